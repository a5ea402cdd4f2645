"""Evaluation: metrics (paper §9), prediction/metric files, McNemar comparison and plots.

* :mod:`vemd.eval.metrics` — accuracy with Wilson interval, F1, UAR/WAR, confusion, CCC, MER score.
* :mod:`vemd.eval.report` — ``predictions.csv`` and ``metrics.json`` readers and writers.
* :mod:`vemd.eval.compare` — two-sided McNemar test between two systems on the same items.
* :mod:`vemd.eval.plots` — confusion matrix, structural heatmaps, timelines, training curves.
"""

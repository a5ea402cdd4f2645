"""Datasets: the generic manifest layout, media decoding, frame sampling and loaders."""

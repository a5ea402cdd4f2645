"""Inference on real media: group-level results only."""

"""Training: the Lightning module, data module, resumable loading, feature cache and entry points."""

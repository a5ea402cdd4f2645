"""Audio branches of the multimodal extension (paper §7.1.1; the EmotiW 2023 system's Mel-CNN branch)."""

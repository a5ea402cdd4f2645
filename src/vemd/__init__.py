"""vemd: privacy-aware group emotion recognition with VE-MD."""

__version__ = "0.1.0"

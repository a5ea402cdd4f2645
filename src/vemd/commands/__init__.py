"""CLI sub-commands, one module each (see vemd.cli)."""

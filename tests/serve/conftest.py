"""The serve tests use the inference tests' tiny model file (random weights, classes a, b, c)."""

from tests.inference.conftest import model_file  # noqa: F401  (a pytest fixture, found by its name)

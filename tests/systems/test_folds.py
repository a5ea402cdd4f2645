import pytest

from vemd.config import ConfigError
from vemd.systems.folds import parse_folds


def test_parse_folds():
    assert parse_folds("all") == [1, 2, 3, 4, 5]
    assert parse_folds("2,4") == [2, 4]
    with pytest.raises(ConfigError, match="do not exist"):
        parse_folds("0,6")
    with pytest.raises(ConfigError, match="expected 'all'"):
        parse_folds("first")

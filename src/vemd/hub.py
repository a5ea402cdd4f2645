"""Models by name: ``hf://ORG/NAME[@REVISION]`` is the ``model.pt`` of a Hugging Face Hub repository.

``vemd.load("hf://ORG/NAME")`` and every ``--ckpt`` take such a name wherever they take a model
file: :func:`resolve` turns it into the path of ``model.pt`` in the Hugging Face cache, through
``huggingface_hub.hf_hub_download``, so the cache, its location (``HF_HOME``, ``HF_HUB_CACHE``),
the token and ``HF_HUB_OFFLINE=1`` (read the cache only, never the network) work as for any
other Hub model. ``REVISION`` is a branch, a tag or a commit hash (default: ``main``).

A name that cannot be resolved is one :class:`~vemd.model_file.CheckpointError` line naming
the repository: not cached while offline, not cached and the Hub unreachable, no such
repository or revision, or a repository without ``model.pt``. Nothing is downloaded unless a
name is given; a local path is returned as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from vemd.model_file import CheckpointError
from vemd.version import __version__

SCHEME = "hf://"
FILENAME = "model.pt"  # what a vemd repository holds (vemd export --format hf writes it)
# ORG/NAME as the Hub spells repository ids: letters, digits, '-', '_', '.'
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def is_hub_name(path: str | Path) -> bool:
    """Whether ``path`` names a Hub model (``hf://...``) rather than a file."""
    return isinstance(path, str) and path.startswith(SCHEME)


def parse(name: str) -> tuple[str, str | None]:
    """``hf://ORG/NAME[@REVISION]`` → (``ORG/NAME``, ``REVISION`` or None); one line otherwise."""
    repo_id, _, revision = name[len(SCHEME) :].partition("@")
    if not _NAME.fullmatch(repo_id) or (name.count("@") and not revision):
        raise CheckpointError(f"{name}: expected hf://ORG/NAME or hf://ORG/NAME@REVISION")
    return repo_id, revision or None


def resolve(path: str | Path) -> str | Path:
    """The local path of ``path``: a file path as it is, a Hub name as its cached ``model.pt``
    (downloaded first when it is not cached and the Hub may be reached)."""
    if not is_hub_name(path):
        return path
    repo_id, revision = parse(path)
    from huggingface_hub import hf_hub_download, is_offline_mode
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(
            hf_hub_download(
                repo_id, FILENAME, revision=revision, library_name="vemd", library_version=__version__
            )
        )
    except RepositoryNotFoundError as err:  # gated and private repositories look the same, logged out
        raise CheckpointError(
            f"{path}: no model repository {repo_id} on the Hugging Face Hub (a private or gated one "
            "needs `hf auth login` or HF_TOKEN)"
        ) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{path}: {repo_id} has no revision {revision!r}") from err
    except LocalEntryNotFoundError as err:  # before EntryNotFoundError, its base: not cached
        why = (
            "HF_HUB_OFFLINE=1 forbids downloading it"
            if is_offline_mode()
            else "the Hugging Face Hub could not be reached"
        )
        raise CheckpointError(
            f"{path}: {FILENAME} of {repo_id} is not in the Hugging Face cache and {why}"
        ) from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"{path}: {repo_id} holds no {FILENAME} (not a vemd model repository)") from err
    except (HfHubHTTPError, OSError) as err:  # the Hub answered with an error, or the cache is not writable
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: could not fetch {FILENAME} of {repo_id} ({first})") from err

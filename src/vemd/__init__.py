"""vemd: privacy-aware group emotion recognition with VE-MD.

The Python API::

    import vemd

    predictor = vemd.load("runs/quickstart/run/model.pt", device="auto")
    result = predictor.predict("meeting.mp4")  # a path, an RGB array (T, H, W, 3), a list of frames
    print(result.label, result.probs)
    for window in result.windows:
        print(window.start, window.end, window.label)

    for result in predictor.predict(["a.jpg", "b.mp4"]):  # a list of paths: one result each
        print(result.input, result.label)

``predict`` expands its input as ``vemd predict INPUT...`` does (:mod:`vemd.inference.inputs`).
One input gives one ``GroupEmotion``: an image or video path, a frame folder (images named by
frame number only, ``00001.jpg``: one clip), a stream URL, an RGB array, or a list of arrays or
PIL images (the frames of one clip). A collection gives a list of ``GroupEmotion``, one per item
in the expansion's order, even when it holds one: a list or tuple of paths, a folder (each image
and video in it, and each frame folder in it, recursively, sorted) or a glob pattern
(``"clips/*.mp4"``, each match, sorted).

Results are group level only (:mod:`vemd.inference.results`). Importing ``vemd`` or calling
:func:`load` imports neither Lightning nor the training package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vemd.version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from vemd.inference.predictor import GroupEmotionPredictor

__all__ = ["__version__", "load"]


def load(checkpoint: str | Path, *, device: str = "cpu", **options) -> GroupEmotionPredictor:
    """A predictor for the model in ``checkpoint`` (``model.pt`` of ``vemd fit``, or a Hub model
    ``hf://ORG/NAME[@REVISION]`` through the Hugging Face cache: :mod:`vemd.hub`; a multimodal
    model also hears the audio track of a video).

    ``device``: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``; ``options``: ``window``,
    ``stride``, ``smoothing`` (seconds), ``batch_size``, ``precision``, ``notify``, as
    :class:`vemd.inference.predictor.GroupEmotionPredictor` takes them.
    """
    from vemd.inference.predictor import GroupEmotionPredictor

    return GroupEmotionPredictor(checkpoint, device=device, **options)

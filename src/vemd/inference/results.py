"""Typed results of group emotion inference: group level only, by construction.

A result holds a label and class probabilities (of a classifier), the valence of a model
with a valence head, valence and arousal of a regression system (ABAW 2024: no label, no
probabilities), and for a video a timeline of windows with the same fields. There is no field for a box, a
track, an identity, a per-person score or a structural map: nothing else can leave.
A multimodal model's result (paper §7) also says which modalities it used, over the whole
input and whether each window had audio: group-level facts about the input, not about a person.
``to_dict()`` gives the JSON objects of ``vemd predict --json`` (``rounded=True``: each number
to what it means, :data:`DECIMALS`), ``vemd predict --out`` and ``vemd serve``;
``to_frame()`` the timeline as a pandas DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC_KEYS = frozenset({"input", "label", "probs", "windows", "duration"})
WINDOW_KEYS = frozenset({"start", "end", "label", "probs"})
VALENCE_KEY = "valence"  # in results and windows of a model with a valence head only
AROUSAL_KEY = "arousal"  # in results and windows of a valence/arousal regression system only
MODALITIES_KEY = "modalities"  # in results of a multimodal model only
AUDIO_PRESENT_KEY = "audio_present"  # in windows of a multimodal model with an audio branch only
PROB_PREFIX = "prob_"  # a class probability's column in to_frame() (and in predict --out's timeline.csv)

# Decimals of ``to_dict(rounded=True)``: a probability to 1e-4 (finer than any difference a
# model's accuracy can tell) and seconds to the millisecond (finer than a frame): a window starts
# at 5.005, not 5.005005005005005. Valence and arousal come to 6 decimals from the predictor.
DECIMALS = {"probs": 4, "start": 3, "end": 3, "duration": 3}


def _rounded(out: dict) -> dict:
    """``out`` with its numbers to :data:`DECIMALS` (nested class probabilities included)."""
    for key, decimals in DECIMALS.items():
        value = out.get(key)
        if isinstance(value, dict):
            out[key] = {name: round(float(p), decimals) for name, p in value.items()}
        elif value is not None:
            out[key] = round(float(value), decimals)
    return out


@dataclass(frozen=True)
class WindowPrediction:
    """The group emotion of one span of the input.

    Attributes:
        start, end: the span in seconds (0, 0 for an image or an array without a frame rate).
        label: the most probable class (None for a regression-only system: ABAW 2024).
        probs: class name → probability, in the model's class order (None likewise).
        valence: the window's valence (a model with a valence head), else None.
        arousal: the window's arousal (a valence/arousal system), else None.
        audio_present: whether the window's audio reached the fusion (a multimodal model with
            an audio branch), else None.
    """

    start: float
    end: float
    label: str | None
    probs: dict[str, float] | None
    valence: float | None = None
    audio_present: bool | None = None
    arousal: float | None = None

    def to_dict(self, *, rounded: bool = False) -> dict:
        """The window as JSON-ready values; ``rounded``: numbers to :data:`DECIMALS`."""
        out = {"start": self.start, "end": self.end}
        if self.probs is not None:
            out |= {"label": self.label, "probs": dict(self.probs)}
        if self.valence is not None:
            out[VALENCE_KEY] = self.valence
        if self.arousal is not None:
            out[AROUSAL_KEY] = self.arousal
        if self.audio_present is not None:
            out[AUDIO_PRESENT_KEY] = self.audio_present
        return _rounded(out) if rounded else out


@dataclass(frozen=True)
class GroupEmotion:
    """The group emotion of a whole input: the mean over its windows, and the windows.

    Attributes:
        input: the path or URL read, or ``"<array>"`` / ``"<frames>"`` for in-memory input.
        label, probs, valence: as :class:`WindowPrediction`, over the whole input.
        duration: seconds of video read (0 for an image or an array without a frame rate).
        windows: the timeline, in order.
        modalities: what a multimodal model used for this input (``["video", "audio"]`` when a
            window had audio, else ``["video"]``); None for a video model.
        caveat: one line when the model was trained on the built-in synthetic data ("trained on
            drawn scenes (SynthGroups), not a model of real people"), else None. A fact about the
            model, not the input: not in ``to_dict()`` (``vemd predict`` says it once on stderr,
            ``GET /v1/model`` has it).
    """

    input: str
    label: str | None
    probs: dict[str, float] | None
    duration: float
    windows: tuple[WindowPrediction, ...]
    valence: float | None = None
    modalities: tuple[str, ...] | None = None
    arousal: float | None = None
    caveat: str | None = None

    def to_dict(self, *, rounded: bool = False) -> dict:
        """The result and its windows as JSON-ready values; ``rounded``: numbers to :data:`DECIMALS`."""
        out = {
            "input": self.input,
            "duration": self.duration,
        }
        if self.probs is not None:
            out |= {"label": self.label, "probs": dict(self.probs)}
        if self.valence is not None:
            out[VALENCE_KEY] = self.valence
        if self.arousal is not None:
            out[AROUSAL_KEY] = self.arousal
        if self.modalities is not None:
            out[MODALITIES_KEY] = list(self.modalities)
        out["windows"] = [w.to_dict(rounded=rounded) for w in self.windows]
        return _rounded(out) if rounded else out

    def to_frame(self):
        """The timeline as a pandas DataFrame, one row per window (an image's result: one row).

        Columns: ``input``, ``start``, ``end`` (seconds), ``label`` and ``prob_<class>`` per class
        of a classifier, then ``valence``, ``arousal`` and ``audio_present`` where the model gives
        them: the columns of ``vemd predict --out``'s ``timeline.csv``, plus ``audio_present``.
        Values are unrounded. Needs pandas (``pip install pandas``), imported here only.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("GroupEmotion.to_frame() needs pandas: pip install pandas") from None
        rows = []
        for window in self.windows:
            row = {"input": self.input, "start": window.start, "end": window.end}
            if window.probs is not None:
                row["label"] = window.label
                row |= {f"{PROB_PREFIX}{name}": p for name, p in window.probs.items()}
            for key in (VALENCE_KEY, AROUSAL_KEY, AUDIO_PRESENT_KEY):
                if getattr(window, key) is not None:
                    row[key] = getattr(window, key)
            rows.append(row)
        return pd.DataFrame(rows)

    to_pandas = to_frame  # the name pandas-minded readers look for

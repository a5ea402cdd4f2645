"""Group emotion of images, videos, frames in memory and live streams: the inference API.

The result of every input is group-level only (:mod:`vemd.inference.results`): a label,
class probabilities, the valence of a model with a valence head, and for a video a timeline
of windows with the same fields. No box, track, identity, per-person score or structural
map leaves this module, and no frame is written to disk.

Videos are cut into windows of ``window`` seconds starting every ``stride`` seconds (default:
back to back; a stride shorter than the window overlaps them), in the time of the frames'
presentation timestamps (:func:`vemd.data.media.frame_times`), never of a frame count and a
declared rate: a variable-frame-rate video's windows span equal times, whatever number of
frames each holds. Each window is sampled as the model was trained (``data.frames`` frames,
``data.sampling``), at times spread over it as the frames are shown, and predicted as soon as its
frames are decoded, ``batch_size`` windows per forward pass; a frame is resized to the
model's input as it is decoded and kept only until the last window using it, so memory
stays flat however long the video is. ``smoothing`` (seconds) smooths a file's timeline
as the ABAW 2024 system does (its §4.3, :mod:`vemd.inference.smoothing`): the windows'
predictions interpolated to every frame of the video, smoothed with a Hamming window of that
length, and each window read back as the mean of the smoothed series over its frames.

What a model reads of a decoded frame is its system's :class:`~vemd.systems.base.FrameView`:
the frame resized to the model's input, or, for a model of faces (the ABAW 2024 system), the
frame's face cropped as training cropped it; either is held in memory only. A model whose
window predictions depend on the whole video (``Capabilities.whole_video``: the ABAW 2024
system's per-video MinMax scaling) reads every window of a file or of in-memory frames before
predicting any (the frames still pass once, the model's first pass keeps what it needs of them);
a live source, which has no end, is refused in one line.

A truncated video (its header promises more frames than decode, or, without a frame count,
its frames end well before the duration its header gives) is predicted over the frames that
decode: the windows beyond them are dropped, ``duration`` is what was read, and one notice
names the file and both counts (or both durations). A video of which no frame decodes fails.

Live sources (an RTSP/HTTP/... URL or a camera) are read by :meth:`GroupEmotionPredictor.stream`,
which yields one window at a time until the source ends or the caller stops.

A multimodal model file (paper §7: a frozen VE-MD, an audio branch, their fusion) is predicted
from a video's frames and its audio track, and a window's probabilities are the fused logits'
softmax. A window's audio is its span, as a training clip's is the span its frames cover, at most
the model's ``audio_seconds`` (a multimodal model's ``multimodal.audio.max_seconds``: its
``seconds``, else its encoder's window): ``[start, min(end, start + audio_seconds))`` of the
track, mono 16 kHz (:func:`vemd.data.audio.read_audio`), zero-padded at its end to
``audio_seconds`` when the window is shorter (the audio branch hears the padding as the model
says: the Mel-CNN reads its fixed length, the frozen encoders stop at the last sample of audio,
:mod:`vemd.models.multimodal`). A window without audio (no track, silent, too short) goes to the audio
branch as zeros marked absent, which the fusion leaves out, as in training. An audio track that
cannot be decoded from some point on is one notice; the windows from there on are predicted
without audio. Images, frame folders, frames in memory and live sources have no audio track:
their windows are predicted from their video with the audio absent (for the last two, one log
line says so). A text branch is fed nothing (there is no transcript at prediction): the fusion
sees text as absent. The result names the modalities used and each window says whether it had
audio; the fusion has no valence head, so a multimodal result has no valence.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vemd.data.audio import SAMPLE_RATE, read_audio
from vemd.data.content import shown
from vemd.data.media import (
    FrameTimes,
    SourceInfo,
    TruncatedVideo,
    ends_early,
    frame_times,
    iter_video_frames,
    probe,
    read_frames_at,
    sample_indices,
    sample_times,
)
from vemd.errors import DataError, VemdError
from vemd.inference.results import PUBLIC_KEYS, VALENCE_KEY, WINDOW_KEYS, GroupEmotion, WindowPrediction
from vemd.inference.smoothing import smooth_windows

__all__ = [
    "PUBLIC_KEYS",
    "VALENCE_KEY",
    "WINDOW_KEYS",
    "GroupEmotion",
    "GroupEmotionPredictor",
    "WindowPrediction",
    "check_window",
]

log = logging.getLogger(__name__)

OnWindow = Callable[[WindowPrediction], None]
Heard = tuple[np.ndarray, bool]  # a window's waveform (L,) float32 at 16 kHz, and whether it has audio


@dataclass
class Window:
    """A span of the input and the source frames sampled from it."""

    start: float  # seconds
    end: float
    indices: list[int]


class GroupEmotionPredictor:
    """Loads a vemd model once and predicts group emotion (see :func:`vemd.load`).

    Args:
        checkpoint: ``model.pt`` (or a fit checkpoint); a multimodal ``model.pt`` hears the
            audio of videos (module docstring).
        window: seconds of video per prediction window, > 0 and at most a day; default: the
            training clip length (``frames × frame_interval`` for ``fps`` sampling, else 5 s).
        stride: seconds between window starts (default: ``window``, no overlap).
        smoothing: Hamming window in seconds for a file's timeline (None: no smoothing).
        batch_size: windows per forward pass (live sources run one at a time).
        device: where the model runs (``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``).
        precision: ``auto`` (bf16 on a GPU that has it, else fp16 on a GPU; on a CPU bf16 where
            it measured faster than fp32, else fp32: :func:`vemd.device.choose_precision`),
            ``fp32``, ``bf16`` or ``fp16`` (autocast; the weights stay fp32). The choice and its
            reason are in ``self.precision``.
        notify: called with the one-line notice of a truncated video or of an audio track that
            stops decoding (default: a logged warning).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        window: float | None = None,
        stride: float | None = None,
        smoothing: float | None = None,
        batch_size: int = 4,
        device: str | torch.device = "cpu",
        precision: str = "auto",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        from vemd.device import choose_precision, resolve_device
        from vemd.systems import load_artifact

        for value, name in ((window, "window"), (stride, "stride"), (smoothing, "smoothing")):
            if value is not None:
                check_window(value, name)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size {batch_size!r}: expected an integer >= 1")
        self.device = resolve_device(device)
        self.precision = choose_precision(precision, self.device)
        self.dtype = self.precision.dtype
        log.info("predicting on %s in %s", self.device, self.precision.reason)
        self.artifact = load_artifact(checkpoint).to(self.device)
        self.cfg, self.class_names = self.artifact.cfg, self.artifact.class_names
        self.capabilities = self.artifact.capabilities
        self.caveat = self.artifact.caveat  # trained on the built-in synthetic data: say so
        self.audio_seconds = self.capabilities.audio_seconds
        if smoothing is None:  # a system's own timeline smoothing (ABAW 2024: 0.5-s Hamming)
            smoothing = self.capabilities.smoothing_s
        self._told_video_only = False
        d = self.cfg.data
        self.frames, self.sampling, self.interval = d.frames, d.sampling, d.frame_interval
        default_window = d.frames * d.frame_interval if d.sampling == "fps" else 5.0
        self.window = default_window if window is None else float(window)
        self.stride = self.window if stride is None else float(stride)
        self.smoothing = None if smoothing is None else float(smoothing)
        self.batch_size = batch_size
        self.notify = notify or log.warning
        self._timed: tuple[tuple, SourceInfo, FrameTimes | None] | None = None  # the last file's (_timing)
        self.view = self.artifact.frame_view()  # a decoded frame → what the model reads of it
        _check_batch_pixels(checkpoint, batch_size, self.frames, self.artifact.image_size)

    # ---- public API -------------------------------------------------------------------------

    def predict(
        self,
        source: str | Path | np.ndarray | Sequence,
        *,
        fps: float | None = None,
        on_window: OnWindow | None = None,
    ) -> GroupEmotion | list[GroupEmotion]:
        """Group emotion of an input with its timeline, or of each input of a collection.

        ``source`` is expanded as ``vemd predict INPUT...`` expands its inputs
        (:mod:`vemd.inference.inputs`): one input gives one :class:`GroupEmotion`; a collection
        (a list or tuple of paths, a folder that is not a frame folder, a glob pattern) gives a
        list of them, one per item in the expansion's order, even when it holds one item.

        Args:
            source: one input: an image or video path; a frame folder (images named by frame
                number only, ``00001.jpg``: one clip); a live-stream URL (read to its end); an
                RGB uint8 image (H, W, 3) or frames (T, H, W, 3); a list of RGB arrays or PIL
                images (the frames of one clip). A collection: a list or tuple of paths or URLs
                (each expanded in turn); a folder (each image and video in it, and each frame
                folder in it as one clip, recursively, sorted); a glob pattern such as
                ``"clips/*.mp4"`` (each match, sorted). A missing path, a folder holding nothing
                to predict or a pattern matching nothing is a one-line
                :class:`~vemd.errors.VemdError` naming it.
            fps: frame rate of in-memory frames: with it they are cut into windows like a
                video; without, they are one clip, sampled as a frame folder.
            on_window: called with each window's prediction as soon as it is made (the windows
                of every input of a collection, input after input).
        """
        from vemd.inference.inputs import expand_inputs

        expansion = expand_inputs(source)
        results = [self._predict_input(item, fps, on_window) for item in expansion.items]
        return results if expansion.several else results[0]

    def _predict_input(self, item, fps: float | None, on_window: OnWindow | None) -> GroupEmotion:
        """The group emotion of one item of an expansion (:class:`vemd.inference.inputs.Input`)."""
        if item.kind == "url":
            return self._summary(item.source, list(self.stream(item.source, on_window=on_window)))
        if item.kind in ("file", "clip"):
            return self._predict_path(Path(item.source), on_window)
        return self._predict_frames(item.source, fps, on_window)

    def _predict_frames(self, source, fps: float | None, on_window: OnWindow | None) -> GroupEmotion:
        """In-memory frames: one clip, or windows like a video with ``fps``."""
        frames = _as_frames(source)
        if fps is not None:
            check_window(fps, "fps")
        info = SourceInfo(len(frames), float(fps or 0.0), "video" if fps else "folder")
        windows, duration = self._windows(info)
        seen = {i: self.view.frame(frames[i]) for i in sorted({i for w in windows for i in w.indices})}
        pairs = ((w, self.view.window([seen[i] for i in w.indices])) for w in windows)
        self._video_only("frames in memory")
        timeline = [_emit(on_window, prediction) for _, prediction in self._run(pairs)]
        name = "<array>" if isinstance(source, np.ndarray) else "<frames>"
        times = FrameTimes.uniform(len(frames), fps) if fps else None
        return self._summary(name, self._smoothed(timeline, times), duration)

    def stream(
        self,
        source: str,
        *,
        format: str | None = None,
        options: dict | None = None,
        on_window: OnWindow | None = None,
    ) -> Iterator[WindowPrediction]:
        """Predictions of a live source, one window at a time, until it ends or the caller stops.

        ``source`` is a stream URL or a device PyAV opens with ``format`` (see
        :func:`vemd.data.live.camera_source`). Windows follow the stream's timestamps: window k
        covers ``[k·stride, k·stride + window)`` seconds and is predicted when the first frame
        past its end arrives; at the end of the stream a last window at least half full is
        predicted too. Only the frames of the open windows are held, at the model's input size.
        """
        from vemd.data.live import iter_live_frames

        if self.capabilities.whole_video is not None:
            raise VemdError(
                f"{shown(source)}: a live source has no end, and this model needs a whole video "
                f"({self.capabilities.whole_video}): record it and predict the file"
            )
        held: deque = deque()  # (time, the frame's view) of the open windows
        k = 0
        self._video_only("live sources")
        frames = iter_live_frames(source, format=format, options=options, transform=self.view.frame)
        try:
            for frame in frames:
                while frame.time >= k * self.stride + self.window:  # window k is complete
                    if (prediction := self._live_window(held, k, k * self.stride + self.window)) is not None:
                        yield _emit(on_window, prediction)
                    k += 1
                    while held and held[0][0] < k * self.stride:
                        held.popleft()
                if frame.time >= k * self.stride:  # a frame between windows (stride > window) is not kept
                    held.append((frame.time, frame.image))
            last = held[-1][0] if held else -math.inf
            if last - k * self.stride >= self.window / 2:  # the last window, at least half full
                yield _emit(on_window, self._live_window(held, k, last))
        finally:
            frames.close()

    def summary(self, source: str, windows: Sequence[WindowPrediction]) -> GroupEmotion:
        """The group emotion over ``windows`` so far (a live source stopped by its user)."""
        return self._summary(source, list(windows))

    def windows(self, path: str | Path) -> tuple[list[Window], float]:
        """Prediction windows of a file and its duration in seconds (0 for images)."""
        info, stamps = self._timing(Path(path))
        return self._windows(info, _times(info, stamps))

    # ---- windows ----------------------------------------------------------------------------

    def _windows(self, info: SourceInfo, times: FrameTimes | None = None) -> tuple[list[Window], float]:
        """The windows of a source and its duration: for a video, ``window`` seconds every
        ``stride`` seconds over its frames' times (``times``, default: ``num_frames`` at ``fps``),
        a last window kept when at least half full (the only one of a short video). A stride
        shorter than the mean frame interval is taken as that interval (windows a frame apart)."""
        if times is None and (info.kind != "video" or info.fps <= 0):
            return [Window(0.0, 0.0, self._sample(info.num_frames, 0.0))], 0.0
        times = times or FrameTimes.uniform(info.num_frames, info.fps)
        duration = times.end
        stride = max(self.stride, 1 / times.rate) if times.rate > 0 else self.stride
        full = max(0, math.floor((duration - self.window) / stride + 1e-9) + 1)  # windows inside it
        starts = [round(k * stride, 9) for k in range(full)]  # 0.3, not 0.30000000000000004
        tail = full * stride
        if not starts or (tail + self.window > duration and duration - tail > self.window / 2 + 1e-9):
            starts.append(tail)
        windows = []
        for start in starts:
            end = min(start + self.window, duration)
            picks = sample_times(start, end, self.frames, sampling=self.sampling, interval=self.interval)
            windows.append(Window(start, end, times.shown_at(picks)))
        return windows, duration

    def _sample(self, count: int, fps: float) -> list[int]:
        return sample_indices(count, self.frames, sampling=self.sampling, fps=fps, interval=self.interval)

    def _live_window(self, held: deque, k: int, end: float) -> WindowPrediction | None:
        """Window k of a live source over the held frames in ``[k·stride, end)``."""
        start = k * self.stride
        members = [image for time, image in held if start <= time < start + self.window]
        if not members:
            return None
        local = self._sample(len(members), len(members) / max(end - start, 1e-6))  # the measured rate
        window = Window(start, end, local)
        return self._predict_batch([(window, self.view.window([members[i] for i in local]))])[0][1]

    # ---- files ------------------------------------------------------------------------------

    def _predict_path(self, path: Path, on_window: OnWindow | None) -> GroupEmotion:
        info, stamps = self._timing(path)
        times = _times(info, stamps)
        windows, duration = self._windows(info, times)
        told = times is not None and ends_early(info.duration, times.end)
        if told:  # a header without a frame count: its duration says how much is missing
            self.notify(
                f"{shown(path)}: truncated video: header says {info.duration:.1f} s, its frames end at "
                f"{times.end:.1f} s; predicting over those"
            )
        audio = self._track(path, info)
        done: dict[tuple, WindowPrediction] = {}  # by window: a truncated video keeps what it predicted
        try:
            for window, prediction in self._run(self._window_frames(path, info, windows), audio):
                done[_key(window)] = _emit(on_window, prediction)
        except TruncatedVideo as err:  # predict over what decodes, never over frames not seen
            if not told:
                self.notify(
                    f"{shown(path)}: truncated video: header says {err.header_frames} frames, "
                    f"{err.decoded_frames} decode; predicting over those"
                )
            info = replace(info, num_frames=err.decoded_frames)
            times = _times(info, stamps)
            windows, duration = self._windows(info, times)
            missing = [w for w in windows if _key(w) not in done]
            if missing:
                for window, prediction in self._run(self._window_frames(path, info, missing), audio):
                    done[_key(window)] = _emit(on_window, prediction)
        timeline = [done[_key(w)] for w in windows]
        return self._summary(str(path), self._smoothed(timeline, times), duration)

    def _timing(self, path: Path) -> tuple[SourceInfo, FrameTimes | None]:
        """:func:`probe` of a file and when its frames are shown (:func:`_stamps`), kept for the
        last file while it is unchanged: ``vemd predict`` asks for a file's windows (its progress
        bar), then predicts it, and reading the timestamps reads the whole file."""
        try:
            stat = path.stat()
            key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            key = None  # probe names what is wrong
        if key is None or self._timed is None or self._timed[0] != key:
            info = probe(path)
            self._timed = (key, info, _stamps(path, info))
        return self._timed[1], self._timed[2]

    def _window_frames(
        self, path: Path, info: SourceInfo, windows: list[Window]
    ) -> Iterator[tuple[Window, list[np.ndarray]]]:
        """Each window with its frames at the model's size, in order, as soon as they are decoded."""
        if info.kind != "video":
            wanted = sorted({i for w in windows for i in w.indices})
            frames = read_frames_at(path, wanted, notify=self.notify)
            decoded = {i: self.view.frame(f) for i, f in zip(wanted, frames)}
            yield from ((w, self.view.window([decoded[i] for i in w.indices])) for w in windows)
            return
        last_use = {i: k for k, w in enumerate(windows) for i in w.indices}  # last window needing a frame
        buffer: dict[int, np.ndarray] = {}
        pending = iter(enumerate(windows))
        current = next(pending, None)
        for number, frame in iter_video_frames(path, list(last_use)):
            buffer[number] = self.view.frame(frame)
            while current is not None and all(i in buffer for i in current[1].indices):
                k, window = current
                yield window, self.view.window([buffer[i] for i in window.indices])
                for i in set(window.indices):
                    if last_use[i] == k:
                        del buffer[i]
                current = next(pending, None)

    # ---- the model --------------------------------------------------------------------------

    def _run(
        self, pairs: Iterable[tuple[Window, list[np.ndarray]]], audio: WindowAudio | None = None
    ) -> Iterator[tuple[Window, WindowPrediction]]:
        """Each window with its prediction, in order, ``batch_size`` windows per forward pass;
        ``audio`` reads the windows' audio for a model with an audio branch (None: no audio). A
        model that needs the whole video has every window read before the first is predicted."""
        batches = self._batches(pairs)
        if self.capabilities.whole_video is None:
            for batch in batches:
                yield from self._predict_batch(batch, audio)
            return
        read: list[tuple[list[Window], list[Heard] | None]] = []  # each batch's windows and audio

        def inputs():
            for batch in batches:
                heard = self._heard(batch, audio)
                read.append(([w for w, _ in batch], heard))  # not its frames: they go once
                yield self._inputs(np.stack([np.stack(frames) for _, frames in batch]), heard)

        from vemd.device import autocast

        with autocast(self.device, self.dtype):
            outputs = self.artifact.predict_video(inputs())
        for (windows, heard), out in zip(read, outputs):
            yield from self._predicted(windows, heard, out.probs, out.valence, out.arousal)

    def _batches(self, pairs: Iterable[tuple[Window, list[np.ndarray]]]) -> Iterator[list]:
        """``batch_size`` (window, frames) pairs at a time."""
        batch: list[tuple[Window, list[np.ndarray]]] = []
        for pair in pairs:
            batch.append(pair)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _heard(
        self, batch: list[tuple[Window, list[np.ndarray]]], audio: WindowAudio | None
    ) -> list[Heard] | None:
        """Each window's audio for a model with an audio branch (silence without a track), else None."""
        if self.audio_seconds is None:
            return None
        return [audio(w) if audio is not None else silence(self.audio_seconds) for w, _ in batch]

    def _predict_batch(
        self, batch: list[tuple[Window, list[np.ndarray]]], audio: WindowAudio | None = None
    ) -> list[tuple[Window, WindowPrediction]]:
        heard = self._heard(batch, audio)
        clips = np.stack([np.stack(frames) for _, frames in batch])  # (B, T, S, S, 3)
        return self._predicted([w for w, _ in batch], heard, *self._forward(clips, heard))

    def _predicted(
        self,
        windows: list[Window],
        heard: list[Heard] | None,
        probs: np.ndarray | None,
        valence: np.ndarray | None,
        arousal: np.ndarray | None,
    ) -> list[tuple[Window, WindowPrediction]]:
        """Each window of a batch with its prediction: the model's (B, C) ``probs``, (B,)
        ``valence`` and (B,) ``arousal`` (each None where the model has none)."""
        if not all(np.isfinite(x).all() for x in (probs, valence, arousal) if x is not None):
            first = windows[0]  # a NaN's argmax would still make a label: refuse instead
            raise VemdError(
                f"the model gave NaN or infinite outputs for the window at {first.start:g}-{first.end:g} s "
                f"(computed in {self.precision.name}); no label is given"
            )
        out = []
        for b, window in enumerate(windows):
            v = None if valence is None else float(valence[b])
            a = None if arousal is None else float(arousal[b])
            has_audio = None if heard is None else heard[b][1]
            labelled = self._labelled(None if probs is None else probs[b], v, a)
            out.append(
                (window, WindowPrediction(window.start, window.end, **labelled, audio_present=has_audio))
            )
        return out

    def _inputs(
        self, clips: np.ndarray, heard: list[Heard] | None
    ) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None]:
        """(B, T, S, S, 3) uint8 RGB → the frames (B, T, 3, S, S) on the device, and for an audio
        branch the clips' waveforms (B, L) float32 at 16 kHz and their presence (B,)."""
        x = torch.from_numpy(clips).to(self.device).permute(0, 1, 4, 2, 3)  # (B, T, 3, S, S)
        if heard is None:
            return x, None, None
        return x, np.stack([samples for samples, _ in heard]), np.array([has for _, has in heard])

    @torch.no_grad()
    def _forward(
        self, clips: np.ndarray, heard: list[Heard] | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(B, T, S, S, 3) uint8 RGB (and each clip's audio for an audio branch) →
        (B, num_classes) probabilities (None for a regression system), (B,) valence or None,
        (B,) arousal or None."""
        from vemd.device import autocast

        with autocast(self.device, self.dtype):
            out = self.artifact.predict_clips(*self._inputs(clips, heard))
        return out.probs, out.valence, out.arousal

    # ---- audio ------------------------------------------------------------------------------

    def _track(self, path: Path, info: SourceInfo) -> WindowAudio | None:
        """The reader of a video's audio for a model with an audio branch, else None."""
        if self.audio_seconds is None or info.kind != "video":
            return None
        return WindowAudio(path, self.audio_seconds, self.notify)

    def _video_only(self, what: str) -> None:
        if self.audio_seconds is not None and not self._told_video_only:
            log.warning(
                "a multimodal model hears no audio from %s: they are predicted from their video alone", what
            )
            self._told_video_only = True

    # ---- results ----------------------------------------------------------------------------

    def _smoothed(self, timeline: list[WindowPrediction], times: FrameTimes | None) -> list[WindowPrediction]:
        """The timeline as ``smoothing`` asks (ABAW 2024 §4.3): the windows' values interpolated to
        every frame (``times``: when the video's frames are shown), smoothed with a Hamming window
        of ``smoothing`` seconds, each window read back as the mean over its frames
        (:func:`vemd.inference.smoothing.smooth_windows`); unchanged without smoothing, with fewer
        than two windows, or for a source without frame times (an image, a frame folder)."""
        if self.smoothing is None or len(timeline) < 2 or times is None or times.rate <= 0:
            return timeline
        values = np.array([self._row(w) for w in timeline])
        starts, ends = (np.array([getattr(w, edge) for w in timeline]) for edge in ("start", "end"))
        smooth = smooth_windows(starts, ends, values, times.starts, rate=times.rate, seconds=self.smoothing)
        return [replace(w, **self._unrow(w, row)) for w, row in zip(timeline, smooth)]

    def _row(self, w: WindowPrediction) -> list[float]:
        """A window's values as one row: its probabilities, valence and arousal (those it has)."""
        row = [w.probs[c] for c in self.class_names] if w.probs is not None else []
        return row + [x for x in (w.valence, w.arousal) if x is not None]

    def _unrow(self, w: WindowPrediction, row: np.ndarray) -> dict:
        k = len(self.class_names) if w.probs is not None else 0
        rest = list(row[k:])
        valence = float(rest.pop(0)) if w.valence is not None else None
        arousal = float(rest.pop(0)) if w.arousal is not None else None
        return self._labelled(row[:k] if w.probs is not None else None, valence, arousal)

    def _summary(
        self, source: str, timeline: list[WindowPrediction], duration: float | None = None
    ) -> GroupEmotion:
        if not timeline:
            raise VemdError(f"{source}: no window could be predicted (the source gave no frame)")
        has_probs = timeline[0].probs is not None
        mean = (
            np.mean([[w.probs[c] for c in self.class_names] for w in timeline], axis=0) if has_probs else None
        )
        valences = [w.valence for w in timeline if w.valence is not None]
        arousals = [w.arousal for w in timeline if w.arousal is not None]
        if duration is None:
            duration = timeline[-1].end
        overall = self._labelled(
            mean,
            float(np.mean(valences)) if valences else None,
            float(np.mean(arousals)) if arousals else None,
        )
        modalities = None
        if self.audio_seconds is not None:
            modalities = ("video", "audio") if any(w.audio_present for w in timeline) else ("video",)
        return GroupEmotion(
            input=source,
            duration=duration,
            windows=tuple(timeline),
            modalities=modalities,
            caveat=self.caveat,
            **overall,
        )

    def _labelled(
        self, probs: np.ndarray | None, valence: float | None = None, arousal: float | None = None
    ) -> dict:
        out = {
            "label": None,
            "probs": None,
            "valence": None if valence is None else round(valence, 6),
            "arousal": None if arousal is None else round(arousal, 6),
        }
        if probs is not None:
            total = float(np.sum(probs))
            out["label"] = self.class_names[int(np.argmax(probs))]
            out["probs"] = {c: round(float(p) / total, 6) for c, p in zip(self.class_names, probs)}
        return out


class WindowAudio:
    """Each window's audio of one file (module docstring): its span, at most its first ``seconds``.

    Once the track cannot be decoded from a point on, one notice says so and the later
    windows are read as without audio (decoding would stop at the same point again).
    """

    def __init__(self, path: Path, seconds: float, notify: Callable[[str], None]) -> None:
        self.path, self.seconds, self.notify = path, seconds, notify
        self.broken = False

    def __call__(self, window: Window) -> Heard:
        if self.broken or window.end <= window.start:
            return silence(self.seconds)
        end = min(window.end, window.start + self.seconds)
        try:
            clip = read_audio(self.path, start=window.start, end=end, missing="zeros")
        except DataError as err:
            self.notify(f"{err}; predicting the windows from {window.start:g} s without audio")
            self.broken = True
            return silence(self.seconds)
        samples = silence(self.seconds)[0]
        samples[: len(clip.samples)] = clip.samples[: len(samples)]
        return samples, clip.present


def silence(seconds: float) -> Heard:
    """A window without audio: zeros of ``seconds`` at 16 kHz, absent."""
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32), False


def _stamps(path: Path, info: SourceInfo) -> FrameTimes | None:
    """When a video's frames are shown: as decoded where :func:`probe` decoded them to count
    them, else from their packets' timestamps; None for other sources."""
    if info.kind != "video":
        return None
    return info.times or frame_times(path)


def _times(info: SourceInfo, stamps: FrameTimes | None) -> FrameTimes | None:
    """When the ``info.num_frames`` frames of a video are shown: from their timestamps
    (``stamps``), else, where those are missing or fewer than the frames (a file cut after
    its index, whose decoding will find the cut), at the declared rate; None for other
    sources and for a video without timestamps or rate."""
    if info.kind != "video":
        return None
    if stamps is not None and len(stamps.starts) >= info.num_frames:
        return stamps.first(info.num_frames)
    return FrameTimes.uniform(info.num_frames, info.fps) if info.fps > 0 else None


def _key(window: Window) -> tuple:
    return window.start, tuple(window.indices)


def _emit(callback: OnWindow | None, prediction: WindowPrediction) -> WindowPrediction:
    if callback is not None:
        callback(prediction)
    return prediction


def _as_frames(source) -> list[np.ndarray]:
    """In-memory input → a list of (H, W, 3) uint8 RGB frames; ValueError saying what is wrong."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return [np.asarray(source.convert("RGB"))]
    if isinstance(source, np.ndarray):
        if source.ndim == 3:
            source = source[None]
        items = list(source) if source.ndim == 4 else None
        if items is None:
            raise ValueError(f"an array of shape {source.shape}: expected (H, W, 3) or (T, H, W, 3) RGB")
    elif isinstance(source, Sequence) and not isinstance(source, str | bytes):
        items = list(source)
    else:
        raise ValueError(
            f"cannot predict a {type(source).__name__}: give a path, an RGB array or a list of frames"
        )
    if not items:
        raise ValueError("no frame given: the list or array is empty")
    frames = []
    for number, item in enumerate(items):
        array = np.asarray(item.convert("RGB")) if isinstance(item, Image.Image) else np.asarray(item)
        if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
            raise ValueError(f"frame {number} has shape {array.shape}: expected (H, W, 3) RGB")
        if array.dtype != np.uint8:
            raise ValueError(
                f"frame {number} is {array.dtype}: expected uint8 RGB in [0, 255] "
                "(convert float images with (x * 255).round().astype(np.uint8))"
            )
        frames.append(np.ascontiguousarray(array))
    return frames


def _check_batch_pixels(checkpoint, batch_size: int, frames: int, size: int) -> None:
    """One forward pass holds at most ``BATCH_CLIPS`` clips of the config's limit
    (:data:`vemd.config.MAX_CLIP_PIXELS`): a window of ``data.frames`` frames at the model's size,
    ``batch_size`` windows at once; past that, memory grows until the kernel ends the process."""
    from vemd.config import MAX_CLIP_PIXELS

    clip, limit = frames * size * size, BATCH_CLIPS * MAX_CLIP_PIXELS
    if clip > MAX_CLIP_PIXELS:
        raise VemdError(
            f"{checkpoint}: a window of {frames} frames of {size}×{size} px holds {clip:,} pixels, over "
            f"the limit of {MAX_CLIP_PIXELS:,}"
        )
    if batch_size * clip > limit:
        raise VemdError(
            f"batch size {batch_size}: windows of {frames} frames of {size}×{size} px, {batch_size} per "
            f"forward pass, would hold {batch_size * clip:,} pixels, over the limit of {limit:,}; give at "
            f"most {limit // clip}"
        )


BATCH_CLIPS = 4  # clips of MAX_CLIP_PIXELS one forward pass may hold (the default batch_size)
MAX_SECONDS = 86400.0  # the longest window, stride or smoothing span: a day (also the highest fps)


def check_window(window: float, name: str = "window") -> float:
    """``window`` if it is a number of seconds > 0 and at most :data:`MAX_SECONDS`, else
    ValueError naming ``name``."""
    try:
        seconds = float(window)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ValueError(
            f"{name} {window!r}: expected a number of seconds > 0 and at most {MAX_SECONDS:g} (a day)"
        )
    return seconds

"""Reading the audio of a clip for the audio branch (paper §7.1), and its log-mel features.

:func:`read_audio` decodes the first audio stream of a video file or an audio file (WAV,
FLAC, MP3, Ogg, M4A, …) with PyAV, mixes it to mono (the mean of the channels), resamples
it to :data:`SAMPLE_RATE` and cuts the span ``[start, end)`` seconds. Time 0 is the first
sample of the audio stream (its ``start_time``: an MP3's decoder delay or a stream that
starts after the video does not shift the cut). The cut is sample-exact: output sample ``j``
is the stream's sample number ``round(start · sample_rate) + j`` at ``sample_rate``.

Resampling: soxr at high quality on the decoded span, what ``librosa.resample`` does by
default (``res_type="soxr_hq"``, the same samples), called directly because librosa's first call
loads SciPy and Numba (seconds in each data-loading worker). PyAV's ``AudioResampler``
(libswresample) would resample while decoding, but its stereo → mono downmix gives each
channel a gain of 1/√2 (a full-scale stereo signal leaves [-1, 1]) and its output carries
the filter's start-up; soxr's output is aligned with its input (sample 0 at time 0), of
length ``round(n · sample_rate / rate)``. PyAV's resampler only converts the decoded sample
formats (16-bit, 32-bit, float, planar or packed) to float.

Seeking: a span starting after :data:`SEEK_AFTER` seconds is reached by a seek, in containers
with an index whose timestamps count single samples (WAV, FLAC, Ogg, MP4/M4A/MOV); the
decoded frames are placed by their timestamps, checked to begin before the span (else the
file is decoded from its start). Matroska/WebM (millisecond timestamps), AVI and unindexed
streams (MP3, ADTS AAC) are decoded from the start.

*Audio-less* clips, where the audio branch has nothing to hear:

* ``no audio stream``: the file (a video) has no audio stream;
* ``too short``: less than half of the asked span (:data:`MIN_COVERAGE`) holds audio
  (e.g. a 0.4 s recording read as a 2 s clip), or nothing at all from ``start`` on;
* ``silent``: the span's peak is below :data:`SILENCE_PEAK` (about −80 dBFS, three steps
  of 16-bit PCM: digital silence, dither included).

With ``missing="zeros"`` (the default) they come back as zeros of the asked length with
``present=False``; with ``missing="error"`` they raise :class:`NoAudio` naming the file and
the case. The training side counts and logs audio-less clips and may leave them out by
configuration: skipping is the caller's job (it reads with ``missing="error"`` and catches
:class:`NoAudio`).

Broken files are refused with one :class:`~vemd.errors.DataError` line naming the file:
missing, empty, not media, unreadable header. A file that decodes only in part (a packet
FFmpeg flags corrupt, a decoding error, or fewer samples than its header promises: a cut
download) gives what decodes before the break, never samples made from damaged data: a span
that lies in the decoded part reads normally; a span at least half decoded reads with zeros
after the break (``present=True``, as audio that ends early); a span less than half decoded
raises DataError (``truncated or corrupt audio``), not :class:`NoAudio`: a damaged file is a
data fault to fix, not a clip without sound.

:func:`log_mel` computes the log-mel spectrogram that the authors' Mel-spectrogram CNN
(EmotiW 2023 system) takes; :func:`mel_filterbank` gives its filter bank for a torch module.
Nothing here writes to disk. Needs the ``audio`` extra (librosa, which brings soxr).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vemd.data.media import ffmpeg_reason
from vemd.errors import DataError, VemdError

SAMPLE_RATE = 16_000  # Wav2Vec 2.0 and Whisper (paper §7.1.1) take 16 kHz audio
SILENCE_PEAK = 1e-4  # a span whose peak |sample| is below this is silent
MIN_COVERAGE = 0.5  # a span less than this fraction of which holds audio is too short
SEEK_AFTER = 10.0  # seconds: a span starting later is reached by seeking, not by decoding from 0

NO_STREAM, TOO_SHORT, SILENT = "no audio stream", "too short", "silent"

# Elementary streams without an index (FFmpeg's demuxer names): FFmpeg estimates their duration
# from the bit rate and seeks by byte position, so neither their header duration nor a seek is
# trusted.
_UNINDEXED = frozenset({"mp3", "aac", "ac3", "eac3", "dts", "loas", "truehd"})
_MARGIN = 0.05  # seconds decoded on each side of the span: the resampler's filter context
_SEEK_MARGIN = 1.0  # seconds a seek lands before the span (an AAC frame after a seek decodes wrong)
_HEADER_SLACK = 0.1  # seconds a file may end before its header's duration without being called cut


@dataclass(frozen=True)
class AudioClip:
    """Mono audio of one clip: ``samples`` (N,) float32 in [-1, 1] at ``sample_rate``;
    ``present`` False when the source had no usable audio and ``samples`` are zeros."""

    samples: np.ndarray
    sample_rate: int
    present: bool

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class NoAudio(DataError):
    """An audio-less clip (``case``: ``no audio stream``, ``too short`` or ``silent``),
    raised by :func:`read_audio` with ``missing="error"``."""

    def __init__(self, path: str | Path, case: str, detail: str = "") -> None:
        super().__init__(f"{path}: {case}" + (f" ({detail})" if detail else ""))
        self.path, self.case, self.detail = str(path), case, detail

    def __reduce__(self):  # picklable across DataLoader workers
        return type(self), (self.path, self.case, self.detail)


@dataclass
class _Decoded:
    """Mono float32 ``samples`` at the stream's ``rate``; ``offset``: the stream sample index
    (from its start) of ``samples[0]``; ``header``: the stream's length in samples where its
    container indexes it, else None; ``broken``: why decoding stopped early, else None."""

    samples: np.ndarray
    rate: int
    offset: int
    header: int | None
    broken: str | None


class _SeekMissed(Exception):
    """A seek landed after the span, or on frames without timestamps."""


def read_audio(
    path: str | Path,
    *,
    start: float = 0.0,
    end: float | None = None,
    sample_rate: int = SAMPLE_RATE,
    missing: str = "zeros",
) -> AudioClip:
    """Mono audio of ``[start, end)`` seconds of a file's first audio stream at ``sample_rate``.

    With ``end``, exactly ``round((end - start) · sample_rate)`` samples: zeros where the
    stream holds no samples (after its end, or before its first sample), as long as at least
    half of the span holds audio. With ``end=None``, the samples from ``start`` to the end of
    the stream (its header duration where the container indexes it: an AAC encoder's padding
    after the last sample is dropped).

    ``missing``: ``"zeros"`` or ``"error"``, what an audio-less clip gives (module docstring).
    DataError naming the file when it is missing, not media, or broken within the span.
    """
    if missing not in ("zeros", "error"):
        raise ValueError(f"unknown missing-audio policy {missing!r} (expected 'zeros' or 'error')")
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"invalid audio span [{start}, {end}) seconds")
    if sample_rate <= 0:
        raise ValueError(f"invalid sample rate {sample_rate}")
    path = Path(path)
    try:
        decoded = _decode_span(path, start, end, sample_rate)
    except NoAudio as err:
        return _audioless(err, 0 if end is None else round((end - start) * sample_rate), sample_rate, missing)
    if end is None:
        stop = decoded.header if decoded.header is not None else decoded.offset + len(decoded.samples)
        if decoded.broken and decoded.header is None:  # how much is lost is unknown
            raise DataError(
                f"{path}: truncated or corrupt audio: decoding stops at {stop / decoded.rate:.2f} s "
                f"({decoded.broken})"
            )
        end = max(start, stop / decoded.rate)
    span, length = end - start, round((end - start) * sample_rate)
    samples, covered = _cut(decoded, round(start * sample_rate), length, sample_rate)
    if decoded.broken and (covered == 0 or covered < MIN_COVERAGE * len(samples)):
        raise DataError(
            f"{path}: truncated or corrupt audio: {covered / sample_rate:.2f} s of the "
            f"{span:.2f} s asked from {start:g} s decode ({decoded.broken})"
        )
    if covered == 0 or covered < MIN_COVERAGE * len(samples):
        detail = f"{covered / sample_rate:.2f} s of audio in the {span:.2f} s asked from {start:g} s"
        return _audioless(NoAudio(path, TOO_SHORT, detail), len(samples), sample_rate, missing)
    peak = float(np.abs(samples).max())
    if peak < SILENCE_PEAK:
        detail = f"peak {peak:.1e} below {SILENCE_PEAK:g} in the {span:.2f} s from {start:g} s"
        return _audioless(NoAudio(path, SILENT, detail), len(samples), sample_rate, missing)
    return AudioClip(samples, sample_rate, True)


def audio_duration(path: str | Path) -> float:
    """Seconds of a file's first audio stream, 0.0 when it has none, from its header as FFmpeg
    reads it (the container's duration where the stream gives none; an estimate from the bit
    rate for MP3 and other unindexed streams; a WAV's length from its file size); decodes only
    where the header holds no duration at all."""
    import av

    path = _check_file(path)
    try:
        with av.open(str(path)) as container:
            _media_streams(path, container)
            if not container.streams.audio:
                return 0.0
            stream = container.streams.audio[0]
            if stream.duration:
                return float(stream.duration * stream.time_base)
            if container.duration:
                return container.duration / av.time_base
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        raise DataError(f"{path}: unreadable audio ({ffmpeg_reason(err)})") from err
    decoded = _decode_span(path, 0.0, None, SAMPLE_RATE)
    return (decoded.offset + len(decoded.samples)) / decoded.rate


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's Slaney mel filter bank (n_mels, n_fft // 2 + 1) float32, 0 Hz to Nyquist."""
    librosa = _audio_extra("librosa")
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def log_mel(
    samples: np.ndarray, sample_rate: int, *, n_mels: int = 128, n_fft: int = 400, hop: int = 160
) -> np.ndarray:
    """Log-mel spectrogram (n_mels, frames) float32 of mono ``samples`` (N,).

    Power STFT (Hann window of ``n_fft`` samples, every ``hop`` samples, centred: frames =
    1 + N // hop; 25 ms / 10 ms at 16 kHz) through :func:`mel_filterbank`, in decibels
    against full scale: ``10 · log10(max(power, 1e-10))`` (``librosa.power_to_db`` with
    ``ref=1``, no ``top_db``). The reference is fixed, not the clip's own maximum, so a louder
    clip gives higher values (loudness is a cue to emotion) and the floor (−100 dB) is the same
    for every clip; a torch module reproduces it with one clamp and one log10.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"log_mel takes mono samples (N,), N > 0; got shape {samples.shape}")
    librosa = _audio_extra("librosa")
    spectrum = np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=hop, window="hann", center=True)) ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels) @ spectrum  # (n_mels, frames)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def _audio_extra(name: str):
    """The module ``name`` of the ``audio`` extra (librosa, soxr), imported on first use."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise VemdError(f"reading audio needs {name}: pip install 'vemd[audio]'") from err


def _audioless(err: NoAudio, length: int, sample_rate: int, missing: str) -> AudioClip:
    if missing == "error":
        raise err
    return AudioClip(np.zeros(length, np.float32), sample_rate, False)


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    return path


def _media_streams(path: Path, container) -> None:
    """DataError for a file FFmpeg opens but finds neither audio nor video in."""
    if not container.streams.audio and not container.streams.video:
        raise DataError(f"{path}: not an audio or video file (no audio or video stream)")


def _decode_span(path: Path, start: float, end: float | None, sample_rate: int) -> _Decoded:
    """The decoded samples around ``[start, end)`` (:data:`_MARGIN` on each side), from a
    sample that is also one at ``sample_rate``; NoAudio without an audio stream, DataError
    when the file cannot be read."""
    import av

    path = _check_file(path)
    try:
        try:
            return _decode(path, start, end, sample_rate, seek=start > SEEK_AFTER)
        except _SeekMissed:
            return _decode(path, start, end, sample_rate, seek=False)
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        reason = ffmpeg_reason(err)
        if isinstance(err, av.error.InvalidDataError):
            reason = f"not a media file or a damaged one: {reason}"
        raise DataError(f"{path}: unreadable audio ({reason})") from err


def _decode(path: Path, start: float, end: float | None, sample_rate: int, *, seek: bool) -> _Decoded:
    import av

    with av.open(str(path)) as container:
        _media_streams(path, container)
        if not container.streams.audio:
            raise NoAudio(path, NO_STREAM)
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise DataError(f"{path}: audio stream without a sample rate")
        header = _header_samples(path, container, stream, rate)
        # First kept sample: on the resampling grid, so that kept sample 0 is an output sample.
        grid = rate // math.gcd(rate, sample_rate)
        first = max(0, math.floor((start - _MARGIN) * rate / grid) * grid)
        last = None if end is None else math.ceil((end + _MARGIN) * rate)
        seek = seek and _seekable(container, stream, rate)
        if seek:
            target = (stream.start_time or 0) + int((start - _SEEK_MARGIN) / stream.time_base)
            container.seek(target, stream=stream, backward=True)
        pieces, broken = _collect(container, stream, rate, first, last, header, seek)
    if not pieces:
        return _Decoded(np.zeros(0, np.float32), rate, first, header, broken)
    offset = pieces[0][0]
    samples = np.concatenate([keep for _, keep in pieces]).astype(np.float32, copy=False)
    skip = -offset % grid  # the stream's first frame began off the grid (after its start time)
    return _Decoded(samples[skip:], rate, offset + skip, header, broken)


def _collect(
    container, stream, rate: int, first: int, last: int | None, header: int | None, seeked: bool
) -> tuple[list[tuple[int, np.ndarray]], str | None]:
    """``(position, samples)`` pieces of the stream's mono samples in ``[first, last)`` (stream
    sample indices; ``last`` None: to the end), and why decoding stopped early, or None.

    The first frame is placed by its timestamp, the next ones follow it; a frame whose
    timestamp disagrees (frames lost in between: a FLAC file with damaged frames) stops the
    decoding, as a corrupt packet does. :class:`_SeekMissed` when, after a seek, the first
    frame has no timestamp or begins after ``first``.
    """
    origin, time_base = stream.start_time or 0, stream.time_base
    tolerance = 1 + math.ceil(2 * time_base * rate)  # timestamps count time_base units
    pieces, position = [], None
    try:
        for pts, mono in _mono_frames(container, stream):
            placed = None if pts is None else round((pts - origin) * time_base * rate)
            if position is None:
                if seeked and (placed is None or placed > first):
                    raise _SeekMissed
                position = placed or 0
            elif placed is not None and abs(placed - position) > tolerance:
                return pieces, f"a gap in the timestamps at {position / rate:.2f} s (lost or damaged frames)"
            keep = mono[max(0, first - position) : None if last is None else max(0, last - position)]
            if keep.size:
                pieces.append((max(first, position), keep))
            position += mono.size
            if last is not None and position >= last:
                return pieces, None
    except _Break as err:
        return pieces, str(err)
    ended = (position or 0) / rate
    if header is not None and ended < header / rate - _HEADER_SLACK:
        return pieces, f"the file ends at {ended:.2f} s, its header says {header / rate:.2f} s"
    return pieces, None


class _Break(Exception):
    """Decoding stops after some frames: a corrupt packet or a decoding error (the reason)."""


def _mono_frames(container, stream) -> Iterator[tuple[int | None, np.ndarray]]:
    """``(pts, mono float32 samples)`` of each decoded frame, from where the container stands;
    :class:`_Break` at a packet FFmpeg flags corrupt (a file cut short) or at a decoding error
    after the first frame (an error before it propagates: nothing decodes)."""
    import av

    to_float = av.AudioResampler(format="fltp")  # any sample format → float planar, same rate
    frames = 0
    try:
        for packet in container.demux(stream):
            corrupt = packet.is_corrupt
            for frame in stream.decode(None if corrupt else packet):  # None: flush the decoder
                frames += 1
                planes = [converted.to_ndarray() for converted in to_float.resample(frame)]  # (C, n) each
                yield frame.pts, np.concatenate(planes, axis=1).mean(axis=0)
            if corrupt:
                raise _Break("a corrupt packet: the file is cut short")
    except (_Break, GeneratorExit):
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        if frames == 0:
            raise
        raise _Break(f"a decoding error: {ffmpeg_reason(err)}") from err


def _seekable(container, stream, rate: int) -> bool:
    """Whether a seek lands on frames whose timestamps place them to the sample: an indexed
    container (not AVI, whose audio timestamps count chunks) with timestamps of at most one
    sample (not Matroska's milliseconds)."""
    name = container.format.name
    return name not in _UNINDEXED and name != "avi" and stream.time_base <= Fraction(1, rate)


def _header_samples(path: Path, container, stream, rate: int) -> int | None:
    """The stream's length in samples by its header, where the header can be trusted: a WAV's
    data chunk size (FFmpeg clamps it to the file size), an indexed container's stream
    duration; None for unindexed streams and where no duration is given."""
    if container.format.name == "wav":
        return _wav_frames(path)
    if container.format.name in _UNINDEXED or not stream.duration:
        return None
    return round(stream.duration * stream.time_base * rate)


def _wav_frames(path: Path) -> int | None:
    """Sample frames a WAV file's header gives (its ``data`` chunk size over the ``fmt ``
    block size); None where the header holds no usable size (a streamed WAV writes 0 or
    0xFFFFFFFF, an RF64 file its own chunk)."""
    with open(path, "rb") as file:
        if file.read(4) != b"RIFF" or file.read(8)[4:] != b"WAVE":
            return None
        block = None
        while len(chunk := file.read(8)) == 8:
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"data":
                return size // block if block and 0 < size < 0xFFFFFFFF else None
            body = file.read(size) if kind == b"fmt " else b""
            if len(body) >= 14:
                block = int.from_bytes(body[12:14], "little")  # bytes per sample frame
            file.seek(size - len(body) + size % 2, 1)  # chunks are padded to an even size
    return None


def _cut(decoded: _Decoded, first: int, length: int, sample_rate: int) -> tuple[np.ndarray, int]:
    """``length`` samples at ``sample_rate`` from output sample index ``first``, zeros where
    nothing decoded, clipped to [-1, 1]; and how many of them hold decoded audio."""
    samples = decoded.samples
    if samples.size and decoded.rate != sample_rate:
        samples = _audio_extra("soxr").resample(samples, decoded.rate, sample_rate, quality="HQ")
    offset = decoded.offset * sample_rate // decoded.rate  # exact: offset lies on the grid
    out = np.zeros(length, np.float32)
    lo, hi = max(first, offset), min(first + length, offset + samples.size)
    if hi > lo:
        out[lo - first : hi - first] = samples[lo - offset : hi - offset]
    np.clip(out, -1.0, 1.0, out=out)
    return out, max(0, hi - lo)

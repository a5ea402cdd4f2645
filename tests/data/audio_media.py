"""Audio files and videos with or without sound, written on demand into a given folder.

Each function writes one file with PyAV (nothing binary lives in the repository) and returns
its path. Signals are tones: :func:`tones` joins segments of given frequencies without a
phase jump, so that a cut at a segment boundary can be checked by frequency alone.

Good files: :func:`audio_file` (WAV, FLAC, MP3, Ogg/Opus, M4A, Matroska, by suffix),
:func:`video` (MP4 with an AAC track, or none). Broken ones: :func:`truncated` (the first
bytes of a file), :func:`truncated_between_packets`, :func:`damaged` (random bytes over part
of a file), :func:`text_file`, :func:`subtitles_file`.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# Encoder and container of each suffix (Opus only takes 8, 12, 16, 24 or 48 kHz).
ENCODERS = {
    ".wav": ("pcm_s16le", "wav"),
    ".flac": ("flac", "flac"),
    ".mp3": ("libmp3lame", "mp3"),
    ".ogg": ("libopus", "ogg"),
    ".m4a": ("aac", "ipod"),
    ".mp4": ("aac", "mp4"),
    ".mkv": ("aac", "matroska"),
}


def tones(
    segments: tuple[tuple[float, float], ...], rate: int, *, amplitudes: tuple[float, ...] = (0.5,)
) -> np.ndarray:
    """(C, N) float32 signal: ``segments`` of ``(frequency Hz, seconds)`` one after the other,
    phase-continuous; channel c has amplitude ``amplitudes[c]``."""
    frequency = np.concatenate([np.full(round(seconds * rate), hz, np.float64) for hz, seconds in segments])
    phase = 2 * np.pi * np.concatenate([[0.0], np.cumsum(frequency)[:-1]]) / rate
    return np.stack([a * np.sin(phase) for a in amplitudes]).astype(np.float32)


def tone_at(
    segments: tuple[tuple[float, float], ...], times: np.ndarray, amplitude: float = 0.5
) -> np.ndarray:
    """The value of :func:`tones`' signal at ``times`` seconds (its continuous-time form)."""
    edges = np.concatenate([[0.0], np.cumsum([seconds for _, seconds in segments])])
    phase_at_edge = np.concatenate([[0.0], np.cumsum([2 * np.pi * hz * s for hz, s in segments])])
    k = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(segments) - 1)
    hz = np.array([hz for hz, _ in segments])[k]
    return amplitude * np.sin(phase_at_edge[k] + 2 * np.pi * hz * (times - edges[k]))


def _target(folder: Path, name: str) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _encode(container, stream, signal: np.ndarray, rate: int) -> None:
    """Encode a (C, N) float signal in 1024-sample frames (the encoder converts the format)."""
    layout = "mono" if signal.shape[0] == 1 else "stereo"
    for begin in range(0, signal.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(signal[:, begin : begin + 1024]), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts = rate, begin
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def audio_file(
    folder: Path,
    name: str = "tone.wav",
    *,
    segments: tuple[tuple[float, float], ...] = ((440.0, 2.0),),
    rate: int = 44_100,
    amplitudes: tuple[float, ...] = (0.5, 0.5),
) -> Path:
    """An audio file of :func:`tones` (stereo 440 Hz, 2 s, 44.1 kHz by default), encoded as
    its suffix says (:data:`ENCODERS`)."""
    path = _target(folder, name)
    codec, container_format = ENCODERS[path.suffix]
    signal = tones(segments, rate, amplitudes=amplitudes)
    layout = "mono" if signal.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=container_format) as container:
        _encode(container, container.add_stream(codec, rate=rate, layout=layout), signal, rate)
    return path


def video(
    folder: Path,
    name: str = "clip.mp4",
    *,
    seconds: float = 2.0,
    audio: bool = True,
    amplitude: float = 0.5,
    hz: float = 440.0,
    rate: int = 44_100,
    faststart: bool = False,
    fps: int = 10,
) -> Path:
    """A 64×48 MPEG-4 video of ``seconds`` with a mono AAC track of a ``hz`` tone (silence with
    ``amplitude=0``), or no audio track at all (``audio=False``). ``faststart`` puts the index
    at the front (a cut file then still opens)."""
    path = _target(folder, name)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        picture = container.add_stream("mpeg4", rate=fps)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="mono") if audio else None
        rng = np.random.default_rng(0)
        for _ in range(round(seconds * fps)):  # noise: packets large enough for a cut to fall inside
            image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            container.mux(picture.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(picture.encode())
        if sound is not None:
            _encode(container, sound, tones(((hz, seconds),), rate, amplitudes=(amplitude,)), rate)
    return path


def truncated(path: Path, fraction: float) -> Path:
    """``path`` cut to the first ``fraction`` of its bytes (a cut download), in place."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * fraction)])
    return Path(path)


def truncated_between_packets(path: Path, packets: int) -> Path:
    """``path`` cut right before its audio packet number ``packets``, in place: no packet is
    left partial, so only the header's length tells that the file is cut."""
    with av.open(str(path)) as container:
        position = [packet.pos for packet in container.demux(audio=0)][packets]
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:position])
    return Path(path)


def damaged(path: Path, lo: float = 0.4, hi: float = 0.6) -> Path:
    """``path`` with the bytes between fractions ``lo`` and ``hi`` of its size replaced by
    random bytes, in place."""
    data = bytearray(Path(path).read_bytes())
    begin, end = int(len(data) * lo), int(len(data) * hi)
    data[begin:end] = np.random.default_rng(0).integers(0, 256, end - begin, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))
    return Path(path)


def text_file(folder: Path, name: str = "text.wav") -> Path:
    """A text file with an audio suffix."""
    path = _target(folder, name)
    path.write_text("this is not audio\n" * 20)
    return path


def subtitles_file(folder: Path, name: str = "captions.wav") -> Path:
    """SubRip captions with an audio suffix: FFmpeg opens them, as a file of one subtitle stream."""
    path = _target(folder, name)
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nworld\n")
    return path

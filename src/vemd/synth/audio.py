"""The sound of a SynthGroups clip (``vemd synth --audio``): procedural voices with an affect.

A clip's audio is :data:`AUDIO_SECONDS` of 16 kHz mono speech-like sound. The clip's frames
are images without time stamps, so the audio is taken to span the whole clip, whatever its
number of frames. What it carries is the clip's *audio affect* a ∈ {-1, 0, +1}, drawn by the
audio-visual rule of :mod:`vemd.synth.group` (paper §7: a label that needs both modalities).

The sound is 1–:data:`MAX_SPEAKERS` overlapping "speakers" (the count is label-free), each
with a base pitch drawn log-uniformly in 100–260 Hz (label-free), speaking phrases of
syllables: a harmonic source on a pitch contour, shaped by vowel formants and a syllable
envelope. The affect lives in the contour, the tempo and the timbre:

* positive (+1): rising contours, fast short syllables in laughter-like runs of "ha"
  (a breath onset, then an open vowel), clear voice;
* neutral (0): flat contours, medium tempo, medium syllables, clear voice;
* negative (-1): falling contours, slow long syllables, a rough and breathy timbre (noise
  in the voice, amplitude flutter) on dark, closed vowels: a murmur.

Not in loudness: the mix of the voices is scaled to an RMS level drawn uniformly in
:data:`LEVEL_DB` dBFS, and background noise of a label-free colour is added at a level drawn
in :data:`NOISE_DB`, so the clip's loudness says nothing of its affect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from vemd.data.audio import SAMPLE_RATE  # what the audio branch reads

AUDIO_SECONDS = 2.0  # one clip's audio; its frames carry no time, so this spans the clip
MAX_SPEAKERS = 4
PITCH_HZ = (100.0, 260.0)  # base pitch range of a speaker (label-free)
LEVEL_DB = (-32.0, -20.0)  # RMS of the voice mix, dBFS (label-free)
NOISE_DB = (-62.0, -42.0)  # RMS of the background noise, dBFS (label-free)
# Formants (F1, F2, F3 in Hz) of the vowels the speakers use.
_OPEN_VOWELS = np.array([[750, 1250, 2600], [700, 1700, 2600], [600, 1000, 2500]], dtype=float)
_MID_VOWELS = np.array(
    [[500, 1500, 2500], [450, 1900, 2600], [550, 1000, 2400], [400, 2000, 2700]], dtype=float
)
_CLOSED_VOWELS = np.array([[300, 900, 2300], [320, 1100, 2300], [350, 800, 2200]], dtype=float)


@dataclass(frozen=True)
class Style:
    """How one affect speaks; each pair is a uniform range drawn per speaker or syllable."""

    run: tuple[int, int]  # syllables per phrase (inclusive)
    interval: tuple[float, float]  # onset-to-onset time within a phrase, s
    duration: tuple[float, float]  # syllable length, s
    pause: tuple[float, float]  # silence between phrases, s
    slope: tuple[float, float]  # pitch change over a syllable, semitones
    breath: tuple[float, float]  # noise-to-voice RMS ratio of the source
    flutter: tuple[float, float]  # depth of random amplitude modulation (roughness)
    vowels: np.ndarray  # formant table to draw each syllable's vowel from
    aspirate: bool  # an "h" noise onset before each syllable ("ha")


STYLES = {
    +1: Style(
        run=(3, 6),
        interval=(0.15, 0.21),
        duration=(0.07, 0.11),
        pause=(0.15, 0.35),
        slope=(4.0, 8.0),
        breath=(0.03, 0.10),
        flutter=(0.0, 0.05),
        vowels=_OPEN_VOWELS,
        aspirate=True,
    ),
    0: Style(
        run=(2, 4),
        interval=(0.26, 0.34),
        duration=(0.16, 0.22),
        pause=(0.20, 0.40),
        slope=(-0.6, 0.6),
        breath=(0.03, 0.10),
        flutter=(0.0, 0.05),
        vowels=_MID_VOWELS,
        aspirate=False,
    ),
    -1: Style(
        run=(1, 2),
        interval=(0.60, 0.80),
        duration=(0.42, 0.60),
        pause=(0.20, 0.40),
        slope=(-8.0, -4.0),
        breath=(0.45, 0.80),
        flutter=(0.35, 0.60),
        vowels=_CLOSED_VOWELS,
        aspirate=False,
    ),
}


def synthesize_audio(
    rng: np.random.Generator, affect: int, seconds: float = AUDIO_SECONDS, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """(round(seconds · sample_rate),) float32 samples in [-1, 1] carrying ``affect`` in {-1, 0, +1}."""
    if affect not in STYLES:
        raise ValueError(f"affect must be -1, 0 or +1, got {affect!r}")
    n = round(seconds * sample_rate)
    voices = np.zeros(n)
    for _ in range(int(rng.integers(1, MAX_SPEAKERS + 1))):
        voices += rng.uniform(0.5, 1.0) * _speaker(rng, STYLES[affect], n, sample_rate)
    level = 10 ** (rng.uniform(*LEVEL_DB) / 20)
    voices = level * _unit_rms(voices)
    mix = voices + 10 ** (rng.uniform(*NOISE_DB) / 20) * _background(rng, n)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write ``samples`` (n,) in [-1, 1] as 16-bit PCM mono WAV, atomically (``.partial-<name>``, renamed).

    PyAV with ``+bitexact``: a plain 44-byte header without the FFmpeg version, so the bytes
    depend on the samples only.
    """
    import av

    path = Path(path)
    partial = path.with_name(f".partial-{path.name}")
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with av.open(str(partial), "w", format="wav", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    os.replace(partial, path)


def _speaker(rng: np.random.Generator, style: Style, n: int, sample_rate: int) -> np.ndarray:
    """(n,) one speaker's phrases from a random start until the clip ends."""
    out = np.zeros(n)
    f0 = float(np.exp(rng.uniform(*np.log(PITCH_HZ))))
    t = rng.uniform(0.0, 0.3)
    while t < n / sample_rate:
        for _ in range(int(rng.integers(style.run[0], style.run[1] + 1))):
            start = round(t * sample_rate)
            if start >= n:
                break
            syllable = _syllable(rng, style, f0, sample_rate)
            stop = min(n, start + syllable.size)
            out[start:stop] += syllable[: stop - start]
            t += rng.uniform(*style.interval)
        t += rng.uniform(*style.pause)
    return out


def _syllable(rng: np.random.Generator, style: Style, f0: float, sample_rate: int) -> np.ndarray:
    """One syllable: a glottal pulse train on a pitch contour plus breath noise, through formants."""
    m = round(rng.uniform(*style.duration) * sample_rate)
    u = np.linspace(0.0, 1.0, m)
    semitones = rng.uniform(*style.slope) * (u - 0.5) + 0.15 * np.sin(2 * np.pi * rng.uniform(4, 7) * u)
    cycles = np.cumsum(f0 * 2 ** (semitones / 12)) / sample_rate  # (m,) glottal cycles so far
    pulses = np.diff(np.floor(cycles), prepend=0.0)  # 1 at each glottal closure
    voiced = _unit_rms(lfilter([1.0], [1.0, -0.9], pulses))  # spectral tilt of the glottal flow
    source = voiced + rng.uniform(*style.breath) * rng.standard_normal(m)
    depth = rng.uniform(*style.flutter)
    if depth > 0:
        flutter = _smooth(rng.standard_normal(m), round(sample_rate / 40))
        source *= 1 + depth * flutter / max(float(np.abs(flutter).max()), 1e-9)
    envelope = np.sin(np.pi * u) ** 0.6
    source *= envelope
    if style.aspirate:  # "h": a short breath before the vowel
        h = round(0.03 * sample_rate)
        source = np.concatenate(
            [0.5 * np.sin(np.pi * np.linspace(0, 1, h)) ** 2 * rng.standard_normal(h), source]
        )
    formants = style.vowels[rng.integers(len(style.vowels))] * rng.uniform(0.92, 1.08)
    return _vocal_tract(source, formants, sample_rate)


def _vocal_tract(source: np.ndarray, formants: np.ndarray, sample_rate: int) -> np.ndarray:
    """``source`` through parallel two-pole resonators at the formants (bandwidths grow with F)."""
    out = np.zeros_like(source)
    for weight, freq in zip((1.0, 0.5, 0.25), formants):
        radius = np.exp(-np.pi * (60 + 0.06 * freq) / sample_rate)
        theta = 2 * np.pi * freq / sample_rate
        a = [1.0, -2 * radius * np.cos(theta), radius**2]
        out += weight * (1 - radius) * lfilter([1.0, -1.0], a, source)
    return out


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) unit-RMS room noise: white mixed with low-passed (brown-ish) noise, label-free."""
    white = rng.standard_normal(n)
    pole = rng.uniform(0.9, 0.995)
    brown = _unit_rms(lfilter([1 - pole], [1, -pole], rng.standard_normal(n)))
    mix = rng.uniform(0, 1)
    return _unit_rms(mix * white + (1 - mix) * brown)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average of ``x`` over ``width`` samples (same length, trailing window)."""
    total = np.cumsum(x)
    total[width:] = total[width:] - total[:-width]
    return total / width


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-9)

"""Short-term audio features over sliding windows: the audio branch's input (§II-C).

The EmotiW 2020 audio-video system describes each 25 ms window of the audio, taken every 10 ms,
by the 34 short-term features of pyAudioAnalysis: zero-crossing rate, energy, entropy of energy,
spectral centroid, spread, entropy, flux and roll-off, 13 MFCCs, the 12-bin chroma vector and
the chroma deviation (§II-C). vemd computes the same list with librosa, one row per window.

Windows are ``round(window_s * sr)`` samples every ``round(hop_s * sr)`` samples, from the first
sample, not centred nor padded: a signal of N samples gives ``1 + (N - window) // hop`` windows
(none when shorter than one window). The spectrum of a window is the magnitude of
``librosa.stft`` with a Hann window and an FFT as long as the window (pyAudioAnalysis uses no
taper); its power is the square of the magnitude.

Per window (the names of :data:`FEATURE_NAMES`):

* ``zcr``: ``librosa.feature.zero_crossing_rate``, crossings per sample (≈ 2 f / sr for a sine);
* ``energy``: mean square of the samples (``librosa.feature.rms`` squared);
* ``energy_entropy``: entropy in bits of the energies of 10 equal sub-windows, each divided by
  their sum (numpy over ``librosa.util.frame``);
* ``spectral_centroid``, ``spectral_spread``, ``spectral_rolloff``: in Hz, from
  ``librosa.feature.spectral_centroid``, ``spectral_bandwidth`` (its p = 2 is the standard
  deviation of frequency about the centroid, the spread) and ``spectral_rolloff`` at 90 % of the
  magnitude (pyAudioAnalysis' 0.90);
* ``spectral_entropy``: entropy in bits of the power in 10 equal bands of the spectrum (numpy);
* ``spectral_flux``: squared difference of the sum-normalised magnitude spectrum from the
  previous window's (0 for the first window; numpy);
* ``mfcc_1`` … ``mfcc_13``: ``librosa.feature.mfcc`` of the dB power of 40 Mel bands;
* ``chroma_1`` … ``chroma_12``: ``librosa.feature.chroma_stft`` of the power (no tuning
  estimate), each window's vector divided by its maximum;
* ``chroma_std``: the standard deviation of those 12 values (the chroma deviation).

Silence gives finite values (zeros except the MFCCs, which sit at the dB floor): a small
epsilon keeps every ratio and logarithm defined, so no window ever holds NaN.
"""

from __future__ import annotations

import librosa
import numpy as np

NUM_MFCC = 13
NUM_CHROMA = 12
NUM_MELS = 40
NUM_SUB_WINDOWS = 10  # sub-windows of entropy of energy, bands of spectral entropy
ROLL_PERCENT = 0.90
EPS = 1e-10

FEATURE_NAMES: tuple[str, ...] = (
    "zcr",
    "energy",
    "energy_entropy",
    "spectral_centroid",
    "spectral_spread",
    "spectral_entropy",
    "spectral_flux",
    "spectral_rolloff",
    *(f"mfcc_{i}" for i in range(1, NUM_MFCC + 1)),
    *(f"chroma_{i}" for i in range(1, NUM_CHROMA + 1)),
    "chroma_std",
)


def _entropy_of_blocks(values: np.ndarray, num_blocks: int) -> np.ndarray:
    """Entropy in bits of the shares of num_blocks equal blocks of values (L, W) → (W,)."""
    length = values.shape[0] // num_blocks
    blocks = values[: length * num_blocks].reshape(num_blocks, length, -1).sum(axis=1)  # (num_blocks, W)
    shares = blocks / (blocks.sum(axis=0, keepdims=True) + EPS)
    return np.maximum(-np.sum(shares * np.log2(shares + EPS), axis=0), 0.0)


def window_features(
    samples: np.ndarray, sample_rate: int, *, window_s: float = 0.025, hop_s: float = 0.010
) -> np.ndarray:
    """Mono samples (N,) at sample_rate → features (num_windows, 34) float32, columns FEATURE_NAMES.

    Float samples are taken as they are; integer samples (e.g. int16 PCM) are scaled to [-1, 1).
    """
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"window features need mono samples of shape (N,), got {samples.shape}")
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples / float(np.iinfo(samples.dtype).max + 1)
    y = samples.astype(np.float32)
    window, hop = round(window_s * sample_rate), round(hop_s * sample_rate)
    if window < NUM_SUB_WINDOWS or hop < 1:
        raise ValueError(
            f"windows of {window_s} s every {hop_s} s at {sample_rate} Hz are {window} / {hop} samples: too short"
        )
    if len(y) < window:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    if not np.isfinite(y).all():
        raise ValueError("window features need finite samples: the audio holds NaN or infinite values")

    frames = librosa.util.frame(y, frame_length=window, hop_length=hop)  # (window, W)
    magnitude = np.abs(librosa.stft(y, n_fft=window, hop_length=hop, center=False))  # (1 + window // 2, W)
    power = magnitude**2
    spectral = {"S": magnitude, "sr": sample_rate, "n_fft": window, "hop_length": hop}

    zcr = librosa.feature.zero_crossing_rate(y, frame_length=window, hop_length=hop, center=False)[0]
    energy = librosa.feature.rms(y=y, frame_length=window, hop_length=hop, center=False)[0] ** 2
    energy_entropy = _entropy_of_blocks(frames**2, NUM_SUB_WINDOWS)
    centroid = librosa.feature.spectral_centroid(**spectral)[0]
    spread = librosa.feature.spectral_bandwidth(**spectral, p=2)[0]
    spectral_entropy = _entropy_of_blocks(power, NUM_SUB_WINDOWS)
    shares = magnitude / (magnitude.sum(axis=0, keepdims=True) + EPS)
    flux = np.concatenate([[0.0], np.sum(np.diff(shares, axis=1) ** 2, axis=0)])
    rolloff = librosa.feature.spectral_rolloff(**spectral, roll_percent=ROLL_PERCENT)[0]
    mel = librosa.feature.melspectrogram(S=power, sr=sample_rate, n_fft=window, n_mels=NUM_MELS)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=EPS, top_db=None), n_mfcc=NUM_MFCC)  # (13, W)
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=window, tuning=0.0)  # (12, W)

    columns = [zcr, energy, energy_entropy, centroid, spread, spectral_entropy, flux, rolloff]
    features = np.concatenate([np.stack(columns), mfcc, chroma, chroma.std(axis=0, keepdims=True)])
    return features.T.astype(np.float32)

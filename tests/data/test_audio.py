"""vemd.data.audio: reading clip audio (mono, 16 kHz, exact spans), audio-less and broken files, log-mel."""

from __future__ import annotations

import pickle
from pathlib import Path

import audio_media
import numpy as np
import pytest

from vemd.data import audio
from vemd.data.audio import (
    SAMPLE_RATE,
    AudioClip,
    NoAudio,
    audio_duration,
    log_mel,
    mel_filterbank,
    read_audio,
)
from vemd.errors import DataError

EMODB = Path("/work/shared/fixtures/audio/emodb")
CHANGE = ((300.0, 1.0), (1000.0, 1.0), (300.0, 1.0))  # 300 Hz, 1000 Hz from t = 1 s, 300 Hz from 2 s


def peak_hz(clip: AudioClip) -> float:
    spectrum = np.abs(np.fft.rfft(clip.samples * np.hanning(len(clip.samples))))
    return float(np.argmax(spectrum) * clip.sample_rate / len(clip.samples))


def band_power(samples: np.ndarray, hz: float, sample_rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    return float(spectrum[np.abs(freqs - hz) < 20].sum())


def one_line(err: pytest.ExceptionInfo, path) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_stereo_wav_reads_as_mono_16k_with_its_frequency(tmp_path):
    path = audio_media.audio_file(tmp_path, "stereo.wav", rate=44_100, amplitudes=(0.6, 0.2))
    clip = read_audio(path)
    assert clip.present and clip.sample_rate == SAMPLE_RATE
    assert clip.samples.dtype == np.float32 and clip.samples.shape == (32_000,)
    assert abs(peak_hz(clip) - 440.0) < 1.0
    # mono is the mean of the channels (not libswresample's 1/√2 gain per channel: 0.57)
    assert abs(clip.samples.max() - 0.4) < 5e-3


def test_span_cut_is_sample_exact(tmp_path):
    path = audio_media.audio_file(tmp_path, "change.wav", segments=CHANGE, rate=44_100)
    second = read_audio(path, start=1.0, end=2.0).samples
    assert second.shape == (16_000,)
    assert band_power(second, 300.0) < 1e-4 * band_power(second, 1000.0)
    # sample j is the tone at the stream's 16 kHz sample round(start · 16 kHz) + j: a one-sample
    # shift errs by up to 0.1
    for start, end in [(0.5, 0.75), (1.25, 1.5), (0.1234, 0.9)]:
        samples = read_audio(path, start=start, end=end).samples
        assert len(samples) == round((end - start) * SAMPLE_RATE)
        times = (round(start * SAMPLE_RATE) + np.arange(len(samples))) / SAMPLE_RATE
        assert np.abs(samples - audio_media.tone_at(CHANGE, times)).max() < 2e-3


def test_span_cut_other_sample_rate(tmp_path):
    path = audio_media.audio_file(tmp_path, "change.flac", segments=CHANGE, rate=22_050)
    clip = read_audio(path, start=1.1, end=1.9, sample_rate=8_000)
    assert clip.sample_rate == 8_000 and clip.samples.shape == (6_400,)
    times = (8_800 + np.arange(6_400)) / 8_000
    assert np.abs(clip.samples - audio_media.tone_at(CHANGE, times)).max() < 2e-3


@pytest.mark.parametrize(
    "name, rate, mean_error",  # lossy codecs err by about 0.015; a one-sample shift by 0.07
    [("t.flac", 44_100, 1e-3), ("t.mp3", 44_100, 0.03), ("t.ogg", 48_000, 0.03), ("t.m4a", 44_100, 0.03)],
)
def test_audio_formats_read_aligned(tmp_path, name, rate, mean_error):
    """Each format's decoder delay (MP3, AAC priming, Opus pre-skip) is taken off: time 0 is the
    first sample written."""
    path = audio_media.audio_file(tmp_path, name, segments=CHANGE, rate=rate)
    clip = read_audio(path, start=0.5, end=2.5)
    assert clip.present and clip.samples.shape == (32_000,)
    times = 0.5 + np.arange(32_000) / SAMPLE_RATE
    assert np.abs(clip.samples - audio_media.tone_at(CHANGE, times)).mean() < mean_error
    assert abs(audio_duration(path) - 3.0) < 0.03


def test_mp4_with_aac_track_reads(tmp_path):
    path = audio_media.video(tmp_path, "with_audio.mp4", seconds=2.0)
    clip = read_audio(path)
    assert clip.present and clip.samples.shape == (32_000,)  # the encoder's padding is dropped
    assert abs(peak_hz(clip) - 440.0) < 1.0
    assert audio_duration(path) == pytest.approx(2.0, abs=1e-3)


def spy_seeks(monkeypatch) -> list[bool]:
    """The ``seek`` argument of each decoding pass :func:`read_audio` makes."""
    seeks, decode = [], audio._decode

    def spied(*args, seek):
        seeks.append(seek)
        return decode(*args, seek=seek)

    monkeypatch.setattr(audio, "_decode", spied)
    return seeks


@pytest.mark.parametrize("name", ["long.wav", "long.m4a"])
def test_seek_gives_the_samples_of_decoding_from_the_start(tmp_path, monkeypatch, name):
    segments = ((300.0, 11.6), (1000.0, 1.4))
    path = audio_media.audio_file(tmp_path, name, segments=segments, rate=22_050, amplitudes=(0.5,))
    seeks = spy_seeks(monkeypatch)
    seeked = read_audio(path, start=11.5, end=12.0).samples
    assert seeks == [True]  # one pass, from the seek
    monkeypatch.setattr(audio, "SEEK_AFTER", 1e9)
    decoded = read_audio(path, start=11.5, end=12.0).samples
    assert seeks == [True, False]
    assert np.abs(seeked - decoded).max() < 1e-4
    times = 11.5 + np.arange(len(seeked)) / SAMPLE_RATE
    assert np.abs(seeked - audio_media.tone_at(segments, times)).mean() < 0.01


def test_seek_landing_after_the_span_decodes_from_the_start(tmp_path, monkeypatch):
    path = audio_media.audio_file(tmp_path, "long.wav", segments=((300.0, 13.0),), amplitudes=(0.5,))
    expected = read_audio(path, start=11.5, end=12.0).samples
    monkeypatch.setattr(audio, "_SEEK_MARGIN", -0.5)  # the seek lands 0.5 s into the span
    seeks = spy_seeks(monkeypatch)
    assert np.array_equal(read_audio(path, start=11.5, end=12.0).samples, expected)
    assert seeks == [True, False]


def test_matroska_is_decoded_from_the_start(tmp_path, monkeypatch):
    """Matroska timestamps count milliseconds: a seek could not place frames to the sample."""
    segments = ((300.0, 11.6), (1000.0, 1.4))
    path = audio_media.audio_file(tmp_path, "long.mkv", segments=segments, rate=22_050, amplitudes=(0.5,))
    seeks = spy_seeks(monkeypatch)
    samples = read_audio(path, start=11.5, end=12.0).samples
    times = 11.5 + np.arange(len(samples)) / SAMPLE_RATE
    assert np.abs(samples - audio_media.tone_at(segments, times)).mean() < 0.01
    assert seeks == [True]  # asked for; _seekable turns it down without a second pass


def test_mp4_without_audio_is_audio_less(tmp_path):
    path = audio_media.video(tmp_path, "mute.mp4", audio=False)
    clip = read_audio(path, start=0.5, end=2.0)
    assert not clip.present and clip.samples.shape == (24_000,) and not clip.samples.any()
    with pytest.raises(NoAudio) as err:
        read_audio(path, missing="error")
    assert one_line(err, path) == f"{path}: no audio stream" and err.value.case == audio.NO_STREAM
    assert audio_duration(path) == 0.0


@pytest.mark.parametrize("amplitude", [0.0, 5e-5])
def test_silent_track_is_audio_less(tmp_path, amplitude):
    paths = [
        audio_media.video(tmp_path, "silent.mp4", amplitude=amplitude),
        audio_media.audio_file(tmp_path, "silent.flac", amplitudes=(amplitude,)),
    ]
    for path in paths:
        clip = read_audio(path, end=1.5)
        assert not clip.present and clip.samples.shape == (24_000,) and not clip.samples.any()
        with pytest.raises(NoAudio) as err:
            read_audio(path, end=1.5, missing="error")
        assert "silent" in one_line(err, path) and err.value.case == audio.SILENT


def test_quiet_track_is_not_silent(tmp_path):
    path = audio_media.audio_file(tmp_path, "quiet.wav", amplitudes=(1e-3,))
    assert read_audio(path).present


def test_too_short_audio_is_audio_less(tmp_path):
    path = audio_media.audio_file(tmp_path, "short.wav", segments=((440.0, 0.4),))
    clip = read_audio(path, end=2.0)
    assert not clip.present and clip.samples.shape == (32_000,) and not clip.samples.any()
    with pytest.raises(NoAudio) as err:
        read_audio(path, end=2.0, missing="error")
    assert "too short" in one_line(err, path) and err.value.case == audio.TOO_SHORT
    assert not read_audio(path, start=1.0).present  # nothing after start
    assert read_audio(path).present  # the whole file is no shorter than asked


def test_short_audio_is_padded_with_zeros_at_the_end(tmp_path):
    path = audio_media.audio_file(tmp_path, "short.wav", segments=((440.0, 1.2),))
    clip = read_audio(path, end=2.0)
    assert clip.present and clip.samples.shape == (32_000,)
    assert np.abs(clip.samples[:19_000]).max() > 0.4 and not clip.samples[19_250:].any()


def test_no_audio_pickles():
    err = pickle.loads(pickle.dumps(NoAudio("a.mp4", audio.SILENT, "peak 0")))
    assert (err.path, err.case, str(err)) == ("a.mp4", "silent", "a.mp4: silent (peak 0)")


def test_truncated_audio_within_the_decoded_part_reads(tmp_path):
    path = audio_media.truncated(audio_media.audio_file(tmp_path, "cut.wav"), 0.6)
    assert read_audio(path, end=1.0).present
    clip = read_audio(path, end=2.0)  # more than half decodes: zeros after the cut
    assert clip.present and np.abs(clip.samples[:18_000]).max() > 0.4 and not clip.samples[20_000:].any()


@pytest.mark.parametrize(
    "make",
    [
        lambda d: audio_media.truncated(audio_media.audio_file(d, "cut.wav"), 0.3),
        lambda d: audio_media.truncated_between_packets(audio_media.audio_file(d, "cut.wav"), 3),
        lambda d: audio_media.truncated(audio_media.audio_file(d, "cut.flac"), 0.3),
        lambda d: audio_media.truncated(audio_media.video(d, "cut_index_first.mp4", faststart=True), 0.3),
        lambda d: audio_media.truncated(audio_media.video(d, "cut_index_last.mp4"), 0.5),
        lambda d: audio_media.damaged(audio_media.audio_file(d, "damaged.flac")),
        lambda d: audio_media.damaged(audio_media.audio_file(d, "damaged.m4a", rate=22_050)),
        lambda d: audio_media.damaged(audio_media.audio_file(d, "damaged_header.wav"), 0.0, 0.05),
        lambda d: audio_media.text_file(d, "text.wav"),
        lambda d: audio_media.damaged(audio_media.text_file(d, "noise.mp3"), 0.0, 1.0),
        lambda d: audio_media.subtitles_file(d, "captions.wav"),
    ],
    ids=[
        "cut_wav",
        "cut_wav_between_packets",
        "cut_flac",
        "cut_mp4_index_first",
        "cut_mp4_index_last",
        "damaged_flac",
        "damaged_m4a",
        "damaged_wav_header",
        "text_named_wav",
        "random_bytes_mp3",
        "subtitles_named_wav",
    ],
)
def test_broken_audio_is_one_line_data_error(tmp_path, make):
    path = make(tmp_path)
    for end in (2.0, None):
        with pytest.raises(DataError) as err:
            read_audio(path, end=end)
        assert not isinstance(err.value, NoAudio)  # a damaged file is not a clip without sound
        one_line(err, path)


def test_missing_and_empty_files_are_one_line_data_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path, words in [
        (tmp_path / "absent.wav", "no such file"),
        (empty, "empty file"),
        (tmp_path, "not a file"),
    ]:
        for read in (read_audio, audio_duration):
            with pytest.raises(DataError) as err:
                read(path)
            assert words in one_line(err, path)


def test_invalid_arguments():
    for kwargs in [{"start": -1.0}, {"start": 2.0, "end": 1.0}, {"missing": "skip"}, {"sample_rate": 0}]:
        with pytest.raises(ValueError):
            read_audio("unused.wav", **kwargs)


def test_log_mel_shape_and_loudness():
    samples = np.random.default_rng(0).uniform(-0.05, 0.05, 16_000).astype(np.float32)  # energy in every band
    quiet = log_mel(samples, SAMPLE_RATE)
    loud = log_mel(samples * 10, SAMPLE_RATE)
    assert quiet.shape == loud.shape == (128, 1 + 16_000 // 160) and quiet.dtype == np.float32
    above_floor = quiet > -90.0
    assert above_floor.mean() > 0.9 and loud.mean() > quiet.mean()
    assert np.allclose((loud - quiet)[above_floor], 20.0, atol=1e-2)  # ×10 amplitude = +20 dB
    assert log_mel(samples, SAMPLE_RATE, n_mels=40, n_fft=512, hop=256).shape == (40, 1 + 16_000 // 256)


def test_log_mel_is_librosa_melspectrogram_in_db():
    import librosa

    samples = audio_media.tones(((440.0, 0.5), (2000.0, 0.5)), SAMPLE_RATE)[0]
    expected = librosa.power_to_db(
        librosa.feature.melspectrogram(y=samples, sr=SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=128),
        ref=1.0,
        top_db=None,
    )
    assert np.allclose(log_mel(samples, SAMPLE_RATE), expected, atol=1e-3)
    bank = mel_filterbank(SAMPLE_RATE, 400, 128)
    assert bank.shape == (128, 201) and bank.dtype == np.float32
    assert np.allclose(bank, librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=128))


def test_emodb_file_reads_as_two_seconds_at_16k():
    files = sorted(EMODB.glob("*.wav")) if EMODB.is_dir() else []
    if not files:
        pytest.skip(f"{EMODB} is absent")
    clip = read_audio(files[0])
    assert clip.present and clip.sample_rate == 16_000 and clip.samples.shape == (32_000,)
    assert np.abs(clip.samples).max() <= 1.0
    assert audio_duration(files[0]) == pytest.approx(2.0)

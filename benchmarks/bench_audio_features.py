"""Audio feature extraction speed (clips/s) of the frozen encoders (paper §7.1.1), token cache cold and warm.

For each encoder, a cold pass over the clips (empty cache folder) reads each clip's audio with
:func:`vemd.data.audio.read_audio` and encodes it through
:class:`vemd.data.audio_cache.AudioFeatureCache`, which stores the tokens; a warm pass reads the
audio again and takes the tokens from the cache (all hits). The encoders are a tiny random
wav2vec2 and a tiny random Whisper encoder (a 3 s window): the cost of vemd's code path, not of
the released models; a released wav2vec2-base is timed too when it is in the Hugging Face cache.

Clips are EMO-DB utterances (2 s) when the folder is there, else synthetic 2 s clips
(:func:`vemd.synth.audio.synthesize_audio`) written to a temporary folder.

    .venv/bin/python benchmarks/bench_audio_features.py [--clips 32] [--batch-size 8] [--source auto]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vemd.data.audio import read_audio
from vemd.data.audio_cache import AudioFeatureCache, AudioKey
from vemd.errors import VemdError
from vemd.models.audio.pretrained import AudioEncoder, load_audio_encoder

EMODB = Path("/work/shared/fixtures/audio/emodb")
RELEASED = (("wav2vec2", "facebook/wav2vec2-base"),)  # timed when in the Hugging Face cache


def tiny_encoders() -> dict[str, AudioEncoder]:
    """Random wav2vec2 (32-d) and Whisper (24-d, 3 s window) encoders, seeded."""
    from transformers import Wav2Vec2Config, WhisperConfig

    torch.manual_seed(0)
    wav2vec2 = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    whisper = WhisperConfig(
        d_model=24,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=48,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=48,
        num_mel_bins=80,
        max_source_positions=150,  # 150 tokens of 20 ms: a 3 s window, longer than the clips
    )
    return {
        "wav2vec2 tiny random": load_audio_encoder("wav2vec2", "tiny-random", config=wav2vec2),
        "whisper tiny random": load_audio_encoder("whisper", "tiny-random", config=whisper),
    }


def clip_files(source: str, count: int, folder: Path) -> list[Path]:
    """``count`` audio files: EMO-DB's (every k-th, so all speakers) or synthetic ones in ``folder``."""
    if source in ("auto", "emodb") and EMODB.is_dir():
        files = sorted(EMODB.glob("*.wav"))
        return files[:: max(1, len(files) // count)][:count]
    if source == "emodb":
        raise VemdError(f"{EMODB}: EMO-DB folder not found (use --source synth)")
    from vemd.synth.audio import synthesize_audio, write_wav

    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        path = folder / f"clip{i:03d}.wav"
        write_wav(path, synthesize_audio(rng, affect=i % 3 - 1))
        files.append(path)
    return files


def read_batch(files: Sequence[Path]) -> tuple[list[AudioKey], torch.Tensor, torch.Tensor]:
    """Cache keys, (B, N) zero-padded 16 kHz waveforms and (B,) lengths of ``files``."""
    clips = [read_audio(path).samples for path in files]
    lengths = torch.tensor([len(c) for c in clips])
    waveforms = torch.zeros(len(clips), int(lengths.max()))
    for row, samples in zip(waveforms, clips):
        row[: len(samples)] = torch.from_numpy(samples)
    return [AudioKey.of(path, start=0.0, end=None) for path in files], waveforms, lengths


def timed_pass(
    files: Sequence[Path], encoder: AudioEncoder, cache: AudioFeatureCache, batch_size: int
) -> float:
    """Seconds to read and get the tokens of every file, ``batch_size`` at a time."""
    started = time.perf_counter()
    for i in range(0, len(files), batch_size):
        keys, waveforms, lengths = read_batch(files[i : i + batch_size])
        cache.get(keys, waveforms, encoder, lengths)
    return time.perf_counter() - started


def folder_kilobytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.safetensors")) / 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--source", default="auto", choices=["auto", "emodb", "synth"])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the released encoder is looked up, never fetched
    torch.set_num_threads(args.threads)
    command = shlex.join([sys.executable, *sys.argv])

    encoders = tiny_encoders()
    absent = []
    for kind, name in RELEASED:
        try:
            encoders[f"{kind} {name}"] = load_audio_encoder(kind, name)
        except VemdError as err:
            absent.append(f"{name}: absent ({err})")

    with tempfile.TemporaryDirectory(prefix="vemd-audio-bench-") as scratch:
        scratch = Path(scratch)
        try:
            files = clip_files(args.source, args.clips, scratch)
        except VemdError as err:
            print(err)
            return 2
        seconds = read_audio(files[0]).duration
        rows = []
        for i, (label, encoder) in enumerate(encoders.items()):
            _, waveforms, lengths = read_batch(files[:1])
            encoder(waveforms, lengths)  # warm-up: first-call costs are not timed
            folder = scratch / f"cache{i}"
            cold_cache = AudioFeatureCache(folder, encoder.encoder_id, dim=encoder.dim)
            cold = timed_pass(files, encoder, cold_cache, args.batch_size)
            warm_cache = AudioFeatureCache(folder, encoder.encoder_id, dim=encoder.dim)
            warm = timed_pass(files, encoder, warm_cache, args.batch_size)
            if cold_cache.misses != len(files) or warm_cache.hits != len(files):
                raise RuntimeError(
                    f"{label}: cold pass {cold_cache.misses} misses, warm {warm_cache.hits} hits"
                )
            rows.append((label, encoder.dim, len(files) / cold, len(files) / warm, folder_kilobytes(folder)))
        started = time.perf_counter()
        for i in range(0, len(files), args.batch_size):
            read_batch(files[i : i + args.batch_size])
        read_only = len(files) / (time.perf_counter() - started)

    print(f"command: {command}")
    source = "EMO-DB" if files[0].parent == EMODB else "synthetic"
    print(
        f"{len(files)} {source} clips of {seconds:.1f} s, batches of {args.batch_size}, "
        f"{args.threads} threads; clips/s of read audio + tokens"
    )
    print(f"{'encoder':34s} {'dim':>4s} {'cold':>9s} {'warm':>9s} {'speed-up':>8s} {'cache kB/clip':>13s}")
    for label, dim, cold, warm, kilobytes in rows:
        print(
            f"{label:34s} {dim:4d} {cold:9.1f} {warm:9.1f} {warm / cold:7.1f}x {kilobytes / len(files):13.1f}"
        )
    print(f"read audio alone: {read_only:.1f} clips/s")
    for line in absent:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

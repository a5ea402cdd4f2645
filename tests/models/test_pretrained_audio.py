"""The paper's audio branch (§7.1.1) on tiny random Wav2Vec 2.0 / Whisper encoders, and its token cache."""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("transformers")

from tests.faults.cases import torch_file  # noqa: E402
from transformers import Wav2Vec2Config, Wav2Vec2Model, WhisperConfig, WhisperForConditionalGeneration  # noqa: E402

from vemd.data.audio_cache import AudioFeatureCache, AudioKey  # noqa: E402
from vemd.errors import VemdError  # noqa: E402
from vemd.models.audio.pretrained import PaperAudioBranch, load_audio_encoder  # noqa: E402

SR = 16_000
NUM_CLASSES = 3


def wav2vec2_config(**overrides) -> Wav2Vec2Config:
    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        **overrides,
    )


def whisper_config() -> WhisperConfig:
    # a 1 s window (50 tokens, 100 mel frames) instead of Whisper's 30 s
    return WhisperConfig(
        d_model=24,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=48,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=48,
        num_mel_bins=80,
        max_source_positions=50,
    )


@pytest.fixture(scope="module")
def encoders():
    torch.manual_seed(0)
    return {
        "acoustic": load_audio_encoder("wav2vec2", "tiny-wav2vec2", config=wav2vec2_config()),
        "content": load_audio_encoder("whisper", "tiny-whisper", config=whisper_config()),
    }


def branch_of(encoders, which: str, seed: int = 0) -> PaperAudioBranch:
    torch.manual_seed(seed)
    parts = {name: encoders[name] if which in (name, "both") else None for name in ("acoustic", "content")}
    return PaperAudioBranch(**parts, num_classes=NUM_CLASSES, dim=16, num_heads=2, mlp_hidden=32)


def speech(b: int = 2, seconds: float = 1.0, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, int(seconds * SR), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("which", ["both", "acoustic", "content"])
def test_shapes_and_no_cross_attention_with_one_encoder(encoders, which):
    branch = branch_of(encoders, which).eval()
    logits, embedding = branch(speech(), torch.tensor([True, True]))
    assert logits.shape == (2, NUM_CLASSES) and embedding.shape == (2, 1024)
    assert torch.isfinite(logits).all()
    assert hasattr(branch, "attn_ac") == (which == "both")


def test_token_counts_follow_each_encoder(encoders):
    tokens = branch_of(encoders, "both").encode(speech(), lengths=torch.tensor([SR, SR // 2]))
    a, a_valid = tokens["acoustic"]
    c, c_valid = tokens["content"]
    assert a.shape == (2, 49, 32) and a_valid.sum(1).tolist() == [49, 24]  # one token per 20 ms
    assert c.shape == (2, 50, 24) and c_valid.sum(1).tolist() == [50, 25]  # the padded window's tokens


@pytest.mark.parametrize("which", ["both", "acoustic", "content"])
def test_only_the_head_learns(encoders, which):
    branch = branch_of(encoders, which).train()
    frozen = {k: v.clone() for k, v in branch.encoders.state_dict().items()}
    assert all(not enc.model.training for enc in branch.encoders.values())  # kept in eval mode
    optimizer = torch.optim.Adam([p for p in branch.parameters() if p.requires_grad], lr=1e-3)
    logits, _ = branch(speech(), torch.tensor([True, False]))  # one clip without audio: `missing` learns
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    for name, p in branch.named_parameters():
        if name.startswith("encoders."):
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    optimizer.step()
    after = branch.encoders.state_dict()
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)


@pytest.mark.parametrize("which", ["both", "acoustic", "content"])
def test_clips_without_audio_get_the_missing_embedding(encoders, which):
    branch = branch_of(encoders, which).eval()
    with torch.no_grad():
        branch.missing.normal_()
    waveforms = speech()
    waveforms[1] = float("nan")  # never read: the clip has no audio
    logits, embedding = branch(waveforms, torch.tensor([True, False]))
    assert torch.isfinite(logits).all() and torch.equal(embedding[1], branch.missing)
    assert not torch.equal(embedding[0], branch.missing)
    logits, embedding = branch(waveforms, torch.tensor([False, False]))
    assert torch.isfinite(logits).all() and torch.equal(embedding, branch.missing.expand(2, -1))


def test_a_clip_too_short_for_a_token_counts_as_without_audio(encoders):
    branch = branch_of(encoders, "both").eval()
    logits, embedding = branch(speech(), lengths=torch.tensor([SR, 100]))  # 100 samples < 400: no token
    assert torch.isfinite(logits).all() and torch.equal(embedding[1], branch.missing)


@pytest.mark.parametrize("which", ["content", "layer-norm-acoustic"])
def test_padding_does_not_change_a_clip(encoders, which):
    """Batched = unbatched: a clip padded in a batch with a longer one, its length given."""
    if which == "content":
        branch = branch_of(encoders, "content")
    else:  # wav2vec2 masks padding only in its layer-norm variant (as in HF's large checkpoints)
        torch.manual_seed(0)
        config = wav2vec2_config(feat_extract_norm="layer", do_stable_layer_norm=True)
        branch = branch_of({"acoustic": load_audio_encoder("wav2vec2", "ln", config=config)}, "acoustic")
    branch.eval()
    waveforms = speech()
    waveforms[1, SR // 2 :] = 7.0  # padding, excluded by the length
    _, batched = branch(waveforms, lengths=torch.tensor([SR, SR // 2]))
    _, alone = branch(waveforms[1:, : SR // 2])
    torch.testing.assert_close(batched[1], alone[0], atol=1e-4, rtol=1e-4)


def test_weights_load_from_a_local_folder(tmp_path):
    torch.manual_seed(0)
    Wav2Vec2Model(wav2vec2_config()).save_pretrained(tmp_path / "w2v")
    whisper = WhisperForConditionalGeneration(whisper_config())  # what released Whisper folders hold
    whisper.save_pretrained(tmp_path / "whisper")
    acoustic = load_audio_encoder("wav2vec2", str(tmp_path / "w2v"))
    content = load_audio_encoder("whisper", str(tmp_path / "whisper"))
    saved = whisper.model.encoder.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in content.model.state_dict().items())
    assert not any(p.requires_grad for p in [*acoustic.parameters(), *content.parameters()])
    assert acoustic.encoder_id != load_audio_encoder("wav2vec2", "w", config=wav2vec2_config()).encoder_id


def test_offline_without_weights_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(VemdError) as err:
        load_audio_encoder("wav2vec2", "vemd-tests/no-such-wav2vec2")
    message = str(err.value)
    assert "\n" not in message and message.startswith(
        "vemd-tests/no-such-wav2vec2: not in the Hugging Face cache"
    )
    assert "hf download vemd-tests/no-such-wav2vec2" in message
    with pytest.raises(VemdError, match=f"{tmp_path}: no readable whisper model"):
        load_audio_encoder("whisper", str(tmp_path))
    with pytest.raises(VemdError, match="kind must be one of"):
        load_audio_encoder("hubert", "x")


# The token cache (vemd.data.audio_cache).


class Counting:
    """An encoder that counts the clips it encodes."""

    def __init__(self, encoder) -> None:
        self.encoder, self.clips = encoder, 0

    def __call__(self, waveforms, lengths):
        self.clips += len(waveforms)
        return self.encoder(waveforms, lengths)


@pytest.fixture
def clip_files(tmp_path):
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for i, path in enumerate(paths):
        path.write_bytes(bytes([i]) * 64)
    return paths


def cache_and_keys(encoders, tmp_path, clip_files, **span):
    encoder = encoders["acoustic"]
    cache = AudioFeatureCache(tmp_path / "cache", encoder.encoder_id, dim=encoder.dim)
    return cache, [AudioKey.of(p, **span) for p in clip_files], Counting(encoder)


def test_cache_second_call_hits(encoders, tmp_path, clip_files):
    cache, keys, compute = cache_and_keys(encoders, tmp_path, clip_files)
    lengths = torch.tensor([SR, SR // 2])
    first = cache.get(keys, speech(), compute, lengths)
    second = cache.get(keys, speech(), compute, lengths)
    assert compute.clips == 2 and (cache.hits, cache.misses) == (2, 2)
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    assert first[1].sum(1).tolist() == [49, 24]


def test_cached_tokens_give_the_branch_the_same_output(encoders, tmp_path, clip_files):
    branch = branch_of(encoders, "both").eval()
    keys = [AudioKey.of(p) for p in clip_files]
    waveforms, mask = speech(), torch.tensor([True, True])
    tokens = {}
    for name, encoder in branch.encoders.items():
        cache = AudioFeatureCache(tmp_path, encoder.encoder_id, dim=encoder.dim)
        tokens[name] = cache.get(keys, waveforms, encoder)
    torch.testing.assert_close(
        branch(tokens=tokens, mask=mask)[0], branch(waveforms, mask)[0], atol=2e-3, rtol=0
    )


def test_cache_key_changes_with_span_and_mtime(encoders, tmp_path, clip_files):
    cache, keys, compute = cache_and_keys(encoders, tmp_path, clip_files, start=0.0, end=1.0)
    cache.get(keys, speech(), compute)
    cache.get([AudioKey.of(p, start=0.5, end=1.5) for p in clip_files], speech(), compute)
    assert compute.clips == 4
    stat = clip_files[0].stat()
    os.utime(clip_files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    cache.get([AudioKey.of(p, start=0, end=1) for p in clip_files], speech(), compute)  # 0 and 0.0: one span
    assert compute.clips == 5  # only the touched file again


def entry_path(cache: AudioFeatureCache, key: AudioKey):
    return cache._path(cache._identity(key))


@pytest.mark.parametrize("kind", ["truncated", "random", "zero", "payload", "pickle", "other-key"])
def test_cache_recomputes_a_bad_entry_and_never_unpickles(encoders, tmp_path, clip_files, kind):
    cache, keys, compute = cache_and_keys(encoders, tmp_path, clip_files)
    good = cache.get(keys, speech(), compute)
    path = entry_path(cache, keys[0])
    marker = tmp_path / "PAYLOAD-RAN"
    if kind == "other-key":
        path.write_bytes(entry_path(cache, keys[1]).read_bytes())  # a valid entry, but of clip b
    else:
        torch_file(kind, path, marker)
    again = cache.get(keys, speech(), compute)
    assert compute.clips == 3 and not marker.exists()
    torch.testing.assert_close(again, good, atol=1e-2, rtol=0)  # alone, not batched: fp16 rounding
    cache.get(keys, speech(), compute)  # rewritten: a hit now
    assert compute.clips == 3


def test_cache_skips_clips_without_audio(encoders, tmp_path, clip_files):
    cache, keys, compute = cache_and_keys(encoders, tmp_path, clip_files)
    tokens, valid = cache.get([keys[0], None], speech(), compute)
    assert compute.clips == 1 and valid[1].sum() == 0 and valid[0].sum() == 49
    assert torch.equal(tokens[1], torch.zeros_like(tokens[1]))
    tokens, valid = cache.get([None, None], speech(), compute)
    assert compute.clips == 1 and tokens.shape == (2, 1, 32) and not valid.any()

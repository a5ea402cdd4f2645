import pytest
import torch

from vemd.systems.emotiw20.bilstm import BiLSTMAttention


@pytest.fixture(autouse=True)
def one_thread():
    """Tensors this small run fastest on one thread (and never wait on a busy second core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(**kwargs) -> BiLSTMAttention:
    torch.manual_seed(0)
    model = BiLSTMAttention(4, hidden=8, num_classes=3, frontend=(16,), **kwargs)
    with torch.no_grad():
        model.attention.normal_()  # non-uniform weights, so the mask test is not a plain mean
    return model.eval()


@pytest.mark.parametrize("attention_window", [1, 3])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_padded_windows_do_not_change_the_output(attention_window, num_layers):
    model = _tiny(attention_window=attention_window, num_layers=num_layers)
    short, long = torch.randn(1, 5, 4), torch.randn(1, 9, 4)
    padded = torch.cat([short, 1e3 * torch.randn(1, 4, 4)], dim=1)  # (1, 9, 4): garbage after window 5
    batch = torch.cat([padded, long])  # (B=2, S=9, F=4)
    mask = torch.tensor([[True] * 5 + [False] * 4, [True] * 9])
    with torch.no_grad():
        logits = model(batch, mask)
        weights = model.attention_weights(batch, mask)
        alone = model(short), model(long)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(logits[0:1], alone[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits[1:2], alone[1], rtol=1e-5, atol=1e-6)
    assert weights.shape == (2, 9) and (weights[0, 5:] == 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))


def test_bad_masks_and_sizes():
    model = _tiny()
    x = torch.randn(2, 4, 4)
    with pytest.raises(ValueError, match="first"):
        model(x, torch.tensor([[False, True, True, True], [True] * 4]))
    with pytest.raises(ValueError, match="at least one"):
        model(x, torch.tensor([[False] * 4, [True] * 4]))
    with pytest.raises(ValueError, match="odd"):
        BiLSTMAttention(4, attention_window=2)


def test_a_few_steps_reduce_the_loss_and_reach_every_parameter():
    torch.manual_seed(0)
    model = BiLSTMAttention(4, hidden=8, num_classes=2, frontend=(16,), dropout=0.0)
    labels = torch.arange(32) % 2
    features = torch.randn(32, 10, 4)
    features[labels == 1, 3:6, 0] += 3.0  # class 1: a loud stretch in feature 0
    mask = torch.arange(10) < torch.randint(6, 11, (32, 1))  # (B, S), lengths 6-10
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(features, mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

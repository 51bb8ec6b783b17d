import pytest
import torch

from rnnlab.nets.lstm_fcn import LSTMFCN, MaskedBatchNorm1d


def small(**kwargs) -> LSTMFCN:
    torch.manual_seed(0)
    settings = dict(filters=(6, 8, 5), kernels=(8, 5, 3), hidden_size=4, stride=3) | kwargs
    return LSTMFCN(2, **settings)


def test_outputs_join_the_conv_features_and_the_lstm():
    net = small().eval()
    encoded = net(torch.randn(3, 10, 2))
    assert net.output_size == 5 + 4
    assert encoded.outputs.shape == (3, 10, 9) and encoded.last.shape == (3, 9)
    # The conv part of the summary is the time average of the conv features.
    torch.testing.assert_close(encoded.last[:, :5], encoded.outputs[:, :, :5].mean(1))
    # The LSTM reads windows of 3 steps: each step in a window gets the window's output.
    lstm = encoded.outputs[:, :, 5:]
    torch.testing.assert_close(lstm[:, 0], lstm[:, 2])
    torch.testing.assert_close(lstm[:, 9], encoded.last[:, 5:])  # the last window: step 9 alone
    assert not torch.allclose(lstm[:, 2], lstm[:, 3])


def test_without_the_lstm_it_is_the_plain_fcn():
    net = small(hidden_size=0).eval()
    assert net.lstm is None and net.output_size == 5
    assert net(torch.randn(2, 7, 2)).last.shape == (2, 5)


def test_padding_changes_nothing_in_training_either():
    """Batch norm's training statistics skip padded steps: a padded batch normalises, and
    updates the running statistics, exactly as the same series without padding."""
    x = torch.randn(2, 9, 2)
    padded = torch.cat([x, torch.randn(2, 4, 2) * 50], 1)  # loud garbage past the end
    lengths = torch.tensor([9, 9])
    a, b = small().train(), small().train()
    plain, masked = a(x), b(padded, lengths)
    torch.testing.assert_close(masked.last, plain.last, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(masked.outputs[:, :9], plain.outputs, atol=1e-5, rtol=1e-4)
    assert not masked.outputs[:, 9:].any()
    for norm_a, norm_b in zip(a.norms, b.norms, strict=True):
        torch.testing.assert_close(norm_b.running_mean, norm_a.running_mean)
        torch.testing.assert_close(norm_b.running_var, norm_a.running_var)


def test_masked_batch_norm_equals_batch_norm_over_the_valid_steps():
    torch.manual_seed(0)
    norm, reference = MaskedBatchNorm1d(3), torch.nn.BatchNorm1d(3)
    x = torch.randn(2, 3, 6)
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2])[:, None]  # (B, 1, T)
    out = norm(x, mask)
    valid = torch.cat([x[0], x[1, :, :4]], 1)[None]  # (1, C, 10): the valid steps only
    expected = reference(valid)[0]
    torch.testing.assert_close(torch.cat([out[0], out[1, :, :4]], 1), expected)
    torch.testing.assert_close(norm.running_var, reference.running_var)


def test_gradients_reach_every_parameter_and_one_batch_is_learned():
    net = small()
    head = torch.nn.Linear(net.output_size, 2)
    x, y = torch.randn(8, 12, 2), torch.tensor([0, 1] * 4)
    lengths = torch.tensor([12, 5, 9, 12, 3, 12, 7, 12])
    loss = torch.nn.functional.cross_entropy(head(net(x, lengths).last), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=0.02)
    for _ in range(60):
        optimizer.zero_grad()
        last = torch.nn.functional.cross_entropy(head(net(x, lengths).last), y)
        last.backward()
        optimizer.step()
    assert last.item() < 0.1 * loss.item()


@pytest.mark.parametrize(
    "settings",
    [dict(filters=(4, 4), kernels=(3,)), dict(filters=()), dict(hidden_size=-1), dict(stride=0)],
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        small(**({"kernels": ()} if settings == dict(filters=()) else {}) | settings)

import pytest
import torch

from rnnlab.nets import RecurrentEncoder
from rnnlab.nets.pooling import pool, pooled_size


@pytest.mark.parametrize("how", ["mean", "max", "meanmax"])
def test_pooling_ignores_padded_steps(how):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, "gru", hidden_size=5, bidirectional=True)
    short = torch.randn(1, 3, 2)
    alone = pool(net(short), torch.ones(1, 3, dtype=torch.bool), how)
    padded = torch.cat([short, torch.full((1, 4, 2), 7.0)], dim=1)  # (1, 7, 2)
    lengths = torch.tensor([3])
    mask = torch.arange(7)[None] < lengths[:, None]
    torch.testing.assert_close(pool(net(padded, lengths), mask, how), alone)


def test_mean_and_max_match_their_definitions():
    outputs = torch.tensor([[[1.0], [3.0], [100.0]]])  # the third step is padding
    encoded = type("E", (), {"outputs": outputs, "last": None})()
    mask = torch.tensor([[True, True, False]])
    assert pool(encoded, mask, "mean").item() == 2.0
    assert pool(encoded, mask, "max").item() == 3.0
    assert pool(encoded, mask, "meanmax").tolist() == [[2.0, 3.0]]  # mean, then max


def test_last_is_the_encoder_summary():
    net = RecurrentEncoder(2, "lstm", hidden_size=4, bidirectional=True)
    encoded = net(torch.randn(2, 5, 2))
    assert pool(encoded, None, "last") is encoded.last


def test_unknown_pooling_is_refused():
    net = RecurrentEncoder(1, "rnn", hidden_size=2)
    with pytest.raises(ValueError, match="pooling='sum'"):
        pool(net(torch.randn(1, 2, 1)), None, "sum")


@pytest.mark.parametrize("how, width", [("last", 1), ("mean", 1), ("max", 1), ("meanmax", 2)])
def test_pooled_size_is_the_width_of_what_pool_returns(how, width):
    net = RecurrentEncoder(2, "gru", hidden_size=3, bidirectional=True)
    pooled = pool(net(torch.randn(4, 5, 2)), None, how)
    assert pooled.shape == (4, pooled_size(how, net.output_size)) == (4, width * 6)

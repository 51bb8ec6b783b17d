import pytest
import torch

from rnnlab.nets import RecurrentEncoder

CELLS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(cell, bidirectional):
    net = RecurrentEncoder(3, cell, hidden_size=8, num_layers=2, bidirectional=bidirectional)
    out = net(torch.randn(4, 7, 3))
    d = 2 if bidirectional else 1
    assert net.output_size == 8 * d
    assert out.outputs.shape == (4, 7, 8 * d)
    assert out.last.shape == (4, 8 * d)


@pytest.mark.parametrize("cell", CELLS)
def test_last_joins_forward_end_and_backward_start(cell):
    net = RecurrentEncoder(2, cell, hidden_size=5, num_layers=2, bidirectional=True)
    out = net(torch.randn(3, 6, 2))
    torch.testing.assert_close(out.last[:, :5], out.outputs[:, -1, :5])  # forward, last step
    torch.testing.assert_close(out.last[:, 5:], out.outputs[:, 0, 5:])  # backward, first step


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_an_output(cell, bidirectional):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, cell, hidden_size=6, num_layers=2, bidirectional=bidirectional)
    short = torch.randn(1, 4, 2)
    alone = net(short)
    padded = torch.cat([short, torch.full((1, 3, 2), 9.0)], dim=1)  # (1, 7, 2), junk padding
    batch = torch.cat([padded, torch.randn(1, 7, 2)])  # the other row is full length
    together = net(batch, lengths=torch.tensor([4, 7]))
    torch.testing.assert_close(together.last[:1], alone.last)
    torch.testing.assert_close(together.outputs[:1, :4], alone.outputs)
    assert together.outputs[0, 4:].abs().max() == 0


@pytest.mark.parametrize("cell", CELLS)
def test_carried_state_continues_the_sequence(cell):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, cell, hidden_size=6, num_layers=2)
    x = torch.randn(3, 10, 2)
    whole = net(x)
    first = net(x[:, :6])
    second = net(x[:, 6:], state=first.state)
    torch.testing.assert_close(second.outputs, whole.outputs[:, 6:])


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_reach_every_parameter(cell):
    net = RecurrentEncoder(2, cell, hidden_size=4, num_layers=2, bidirectional=True, dropout=0.1)
    net(torch.randn(3, 5, 2)).outputs.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_relu_rnn_matches_its_equation():
    net = RecurrentEncoder(2, "rnn", hidden_size=3, nonlinearity="relu")
    x = torch.randn(2, 4, 2)
    rnn = net.rnn
    h = torch.zeros(2, 3)
    for t in range(4):
        h = torch.relu(
            x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        )
    torch.testing.assert_close(net(x).last, h)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell='transformer'"):
        RecurrentEncoder(1, "transformer")


def test_embedding_dropout_acts_in_training_only_and_a_frozen_embedding_gets_no_gradient():
    torch.manual_seed(0)
    net = RecurrentEncoder(vocab_size=12, embedding_dim=8, pad_index=0, embedding_dropout=0.5)
    x = torch.randint(1, 12, (3, 5))  # (B, T)
    assert not torch.equal(net(x).outputs, net(x).outputs)  # a new mask each call
    net.eval()
    assert torch.equal(net(x).outputs, net(x).outputs)
    frozen = RecurrentEncoder(vocab_size=12, embedding_dim=8, pad_index=0, freeze_embedding=True)
    frozen(x).outputs.sum().backward()
    assert frozen.embedding.weight.grad is None
    assert all(p.grad is not None for n, p in frozen.named_parameters() if n.startswith("rnn"))


@pytest.mark.parametrize("block", ["plain", "residual"])
@pytest.mark.parametrize("impl", ["fused", "scratch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_init_sets_every_gates_recurrent_matrix(cell, impl, block):
    torch.manual_seed(0)
    for how in ("identity", "orthogonal"):
        net = RecurrentEncoder(3, cell, 8, num_layers=2, impl=impl, block=block, recurrent_init=how)
        weights = {n: w for n, w in net.named_parameters() if "weight_hh" in n}
        assert len(weights) == 2  # one per layer
        for name, weight in weights.items():
            for gate in weight.detach().split(weight.shape[1]):
                product = gate @ gate.T if how == "orthogonal" else gate
                torch.testing.assert_close(product, torch.eye(len(gate)), msg=f"{how} {name}")
    default = RecurrentEncoder(3, cell, 8, num_layers=2, impl=impl, block=block)
    weight = next(w for n, w in default.named_parameters() if "weight_hh" in n)
    assert not torch.allclose(weight[:8], torch.eye(8))  # torch's own uniform start is kept


def test_an_unknown_recurrent_init_is_refused_in_one_sentence():
    from rnnlab.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="model.recurrent_init='xavier' is not one of default"):
        RecurrentEncoder(3, "rnn", 8, recurrent_init="xavier")


@pytest.mark.parametrize("impl", ["fused", "scratch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_unpacked_a_unidirectional_net_gives_the_packed_outputs(cell, impl):
    torch.manual_seed(0)
    packed = RecurrentEncoder(3, cell, 8, num_layers=2, impl=impl).double()
    unpacked = RecurrentEncoder(3, cell, 8, num_layers=2, impl=impl, pack=False).double()
    unpacked.load_state_dict(packed.state_dict())
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    x[1, 5:], x[2, 2:] = 7.0, -7.0  # junk in the padding
    lengths = torch.tensor([9, 5, 2, 9])
    one, other = packed(x, lengths), unpacked(x, lengths)
    torch.testing.assert_close(other.outputs, one.outputs)
    torch.testing.assert_close(other.last, one.last)


def test_unpacked_the_backward_direction_starts_in_the_padding():
    torch.manual_seed(0)
    packed = RecurrentEncoder(3, "lstm", 8, bidirectional=True).double()
    unpacked = RecurrentEncoder(3, "lstm", 8, bidirectional=True, pack=False).double()
    unpacked.load_state_dict(packed.state_dict())
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 3])
    one, other = packed(x, lengths), unpacked(x, lengths)
    torch.testing.assert_close(other.outputs[0], one.outputs[0])  # a row without padding
    assert not torch.allclose(other.outputs[1, :3, 8:], one.outputs[1, :3, 8:])
    torch.testing.assert_close(other.outputs[1, :3, :8], one.outputs[1, :3, :8])  # forward


def test_pack_false_is_refused_for_the_residual_block():
    from rnnlab.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="model.pack=false is for model.block=plain"):
        RecurrentEncoder(3, "lstm", 8, block="residual", pack=False)

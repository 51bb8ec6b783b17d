import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.nets import RecurrentEncoder
from rnnlab.nets.cells import LayerNormLSTM, ScratchGRU, ScratchLSTM, ScratchRNN

PAIRS = {"rnn": (nn.RNN, ScratchRNN), "lstm": (nn.LSTM, ScratchLSTM), "gru": (nn.GRU, ScratchGRU)}
LAYOUTS = [(1, False), (1, True), (2, False), (2, True)]  # (num_layers, bidirectional)
F_IN, H = 4, 5


def _pair(cell, num_layers, bidirectional, **extra):
    """A torch module and a scratch one with its weights, both in float64."""
    fused_cls, scratch_cls = PAIRS[cell]
    args = (F_IN, H)
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=True, **extra)
    fused = fused_cls(*args, **kwargs).double()
    scratch = scratch_cls(*args, **kwargs).double()
    scratch.load_state_dict(fused.state_dict())
    return fused, scratch


def _states(state):
    return state if isinstance(state, tuple) else (state,)


def _run(net, x, hx, lengths=None):
    """Outputs, final states and the gradients of a loss that weighs every output and state
    differently, with respect to the input, the initial state and every parameter."""
    torch.manual_seed(1)  # the same loss weights for both nets
    x = x.clone().requires_grad_()
    hx = tuple(h.clone().requires_grad_() for h in hx)
    hx_arg = hx if len(hx) == 2 else hx[0]
    if lengths is None:
        out, h_n = net(x, hx_arg)
    elif isinstance(net, nn.RNNBase):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_out, h_n = net(packed, hx_arg)
        out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
    else:
        out, h_n = net(x, hx_arg, lengths=lengths)
    h_n = _states(h_n)
    # torch.randn, not randn_like, which would follow each net's own memory layout of out.
    loss = (out * torch.randn(out.shape, dtype=out.dtype)).sum()
    loss = loss + sum((h * torch.randn(h.shape, dtype=h.dtype)).sum() for h in h_n)
    loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    return out, h_n, x.grad, tuple(h.grad for h in hx), grads


def _initial_state(cell, num_layers, bidirectional, batch):
    shape = (num_layers * (2 if bidirectional else 1), batch, H)
    return tuple(torch.randn(shape, dtype=torch.float64) for _ in range(2 if cell == "lstm" else 1))


def _assert_same_run(expected, actual):
    out, h_n, x_grad, hx_grad, grads = expected
    torch.testing.assert_close(actual[0], out)
    for a, e in zip(actual[1], h_n, strict=True):
        torch.testing.assert_close(a, e)
    torch.testing.assert_close(actual[2], x_grad)
    for a, e in zip(actual[3], hx_grad, strict=True):
        torch.testing.assert_close(a, e)
    assert actual[4].keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(actual[4][name], grad, msg=name)


@pytest.mark.parametrize("cell", PAIRS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), LAYOUTS)
def test_same_parameters_as_torch(cell, num_layers, bidirectional):
    fused, scratch = _pair(cell, num_layers, bidirectional)
    shapes = {name: p.shape for name, p in fused.named_parameters()}
    assert {name: p.shape for name, p in scratch.named_parameters()} == shapes
    bound = 1 / math.sqrt(H)
    fresh = PAIRS[cell][1](F_IN, H, num_layers=num_layers, bidirectional=bidirectional)
    values = torch.cat([p.flatten() for p in fresh.parameters()])
    assert values.abs().max() <= bound and values.std() > bound / 2  # uniform in ±bound


@pytest.mark.parametrize("cell", PAIRS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), LAYOUTS)
def test_values_and_gradients_match_torch(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    fused, scratch = _pair(cell, num_layers, bidirectional)
    x = torch.randn(3, 6, F_IN, dtype=torch.float64)
    hx = _initial_state(cell, num_layers, bidirectional, 3)
    _assert_same_run(_run(fused, x, hx), _run(scratch, x, hx))


@pytest.mark.parametrize("cell", PAIRS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), LAYOUTS)
def test_padded_batches_match_packed_torch(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    fused, scratch = _pair(cell, num_layers, bidirectional)
    lengths = torch.tensor([6, 2, 4])  # unsorted, one row full
    x = torch.randn(3, 6, F_IN, dtype=torch.float64)
    x[torch.arange(6) >= lengths[:, None]] = 9.0  # junk padding
    hx = _initial_state(cell, num_layers, bidirectional, 3)
    scratch_run = _run(scratch, x, hx, lengths)
    _assert_same_run(_run(fused, x, hx, lengths), scratch_run)
    assert scratch_run[0][1, 2:].abs().max() == 0  # padded steps are zero


def test_relu_rnn_matches_torch():
    torch.manual_seed(0)
    fused, scratch = _pair("rnn", 2, True, nonlinearity="relu")
    x = torch.randn(2, 5, F_IN, dtype=torch.float64)
    hx = _initial_state("rnn", 2, True, 2)
    _assert_same_run(_run(fused, x, hx), _run(scratch, x, hx))


def test_zero_initial_state_by_default():
    fused, scratch = _pair("lstm", 2, True)
    x = torch.randn(2, 5, F_IN, dtype=torch.float64)
    (out, (h, c)), (ref_out, (ref_h, ref_c)) = scratch(x), fused(x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)


def test_dropout_between_layers_in_training_only():
    torch.manual_seed(0)
    fused, scratch = _pair("gru", 2, False, dropout=0.5)
    x = torch.randn(4, 5, F_IN, dtype=torch.float64)
    scratch.train()
    assert not torch.equal(scratch(x)[0], scratch(x)[0])
    fused.eval(), scratch.eval()
    torch.testing.assert_close(scratch(x)[0], fused(x)[0])
    one_layer = ScratchGRU(F_IN, H, dropout=0.5).train()  # nothing after the last layer
    torch.testing.assert_close(one_layer(x.float())[0], one_layer(x.float())[0])


@pytest.mark.parametrize("cell", PAIRS)
def test_scratch_encoder_equals_fused(cell):
    torch.manual_seed(0)
    kwargs = dict(cell=cell, hidden_size=H, num_layers=2, bidirectional=True)
    fused = RecurrentEncoder(3, **kwargs).double()
    scratch = RecurrentEncoder(3, impl="scratch", **kwargs).double()
    scratch.load_state_dict(fused.state_dict())
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 5])
    a, b = fused(x[:, :6], lengths), scratch(x[:, :6], lengths)
    for expected, actual in zip(a, b, strict=True):
        torch.testing.assert_close(actual, expected)
    # The second chunk continues from each net's own state, as the language model carries it.
    a, b = fused(x[:, 6:], state=a.state), scratch(x[:, 6:], state=b.state)
    for expected, actual in zip(a, b, strict=True):
        torch.testing.assert_close(actual, expected)


def test_scratch_encoder_reads_tokens_like_fused():
    torch.manual_seed(0)
    kwargs = dict(cell="lstm", hidden_size=H, vocab_size=11, embedding_dim=4, pad_index=0)
    fused = RecurrentEncoder(**kwargs)
    scratch = RecurrentEncoder(impl="scratch", **kwargs)
    scratch.load_state_dict(fused.state_dict())
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    lengths = torch.tensor([4, 2])
    for expected, actual in zip(fused(ids, lengths), scratch(ids, lengths), strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("cell", "impl"), [("gru", "scratch"), ("lstm", "scratch_ln")])
def test_scratch_encoders_ignore_padding(cell, impl):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, cell, hidden_size=6, num_layers=2, bidirectional=True, impl=impl)
    short = torch.randn(1, 4, 2)
    alone = net(short)
    padded = torch.cat([short, torch.full((1, 3, 2), 9.0)], dim=1)
    together = net(torch.cat([padded, torch.randn(1, 7, 2)]), lengths=torch.tensor([4, 7]))
    torch.testing.assert_close(together.last[:1], alone.last)
    torch.testing.assert_close(together.outputs[:1, :4], alone.outputs)
    assert together.outputs[0, 4:].abs().max() == 0


@pytest.mark.parametrize("impl", ["scratch", "scratch_ln"])
def test_gradients_reach_every_scratch_parameter(impl):
    net = RecurrentEncoder(2, "lstm", hidden_size=4, num_layers=2, bidirectional=True, impl=impl)
    net(torch.randn(3, 5, 2)).outputs.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_layer_norm_lstm_parameters():
    net = LayerNormLSTM(3, 4, num_layers=2, bidirectional=True)
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    for suffix in ("", "_reverse"):
        for layer, width in ((0, 3), (1, 8)):
            key = f"l{layer}{suffix}"
            assert shapes.pop(f"weight_ih_{key}") == (16, width)
            assert shapes.pop(f"weight_hh_{key}") == (16, 4)
            assert shapes.pop(f"bias_{key}") == (16,)
            assert shapes.pop(f"ln_ih_weight_{key}") == (16,)
            assert shapes.pop(f"ln_hh_weight_{key}") == (16,)
            assert shapes.pop(f"ln_cell_weight_{key}") == (4,)
            assert shapes.pop(f"ln_cell_bias_{key}") == (4,)
    assert shapes == {}
    out, (h, c) = net(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 8) and h.shape == c.shape == (4, 2, 4)


def test_layer_norm_lstm_matches_its_equations():
    torch.manual_seed(0)
    net = LayerNormLSTM(3, 4)
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)  # gains and shifts away from their identity start
    p = dict(net.named_parameters())
    x = torch.randn(2, 5, 3)
    h, c = torch.zeros(2, 4), torch.zeros(2, 4)
    for t in range(5):
        gates = (
            F.layer_norm(x[:, t] @ p["weight_ih_l0"].T, (16,), p["ln_ih_weight_l0"])
            + F.layer_norm(h @ p["weight_hh_l0"].T, (16,), p["ln_hh_weight_l0"])
            + p["bias_l0"]
        )
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        cell = F.layer_norm(c, (4,), p["ln_cell_weight_l0"], p["ln_cell_bias_l0"])
        h = torch.sigmoid(o) * torch.tanh(cell)
    out, (h_n, c_n) = net(x)
    torch.testing.assert_close(out[:, -1], h)
    torch.testing.assert_close(h_n[0], h)
    torch.testing.assert_close(c_n[0], c)


def test_layer_norm_lstm_learns_a_tiny_task():
    torch.manual_seed(0)
    net = RecurrentEncoder(1, "lstm", hidden_size=12, impl="scratch_ln")
    head = nn.Linear(12, 1)
    x = torch.randn(16, 8, 1)
    y = x.sum(1)  # the running sum of the sequence
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=2e-2)
    losses = []
    for _ in range(40):
        loss = F.mse_loss(head(net(x).last), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_scratch_ln_refuses_other_cells(cell):
    with pytest.raises(
        ValueError, match=f"impl='scratch_ln' has only the lstm cell, not cell='{cell}'"
    ):
        RecurrentEncoder(2, cell, impl="scratch_ln")


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="impl='cudnn' is not one of"):
        RecurrentEncoder(2, "lstm", impl="cudnn")


def test_scratch_cells_refuse_time_first_input():
    with pytest.raises(ValueError, match="batch-first"):
        ScratchLSTM(2, 3, batch_first=False)

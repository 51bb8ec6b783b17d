"""minGRU and minLSTM: the gates are the paper's equations, every scan form gives the same
outputs and gradients, the fused minGRU loop is the generic scan, bad settings are refused.
(The one-step form, padding and carried state: tests/nets/test_mixer_stacks.py, for every
modern net.)"""

import pytest
import torch

from rnnlab.nets.minimal import SCANS, MinGRUCell, MinimalRNN, MinLSTMCell, log_g
from rnnlab.nets.residual import GatedMLP
from rnnlab.utils.errors import ConfigError

CELLS = ["mingru", "minlstm"]
TOL = {"atol": 1e-10, "rtol": 1e-10}


def net64(cell: str, scan: str = "loop", **kwargs) -> MinimalRNN:
    torch.manual_seed(0)
    return MinimalRNN(3, cell, hidden_size=6, num_layers=2, scan=scan, chunk_size=4, **kwargs)


def g(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def test_log_g_is_the_log_of_g():
    v = torch.linspace(-30, 30, 601, dtype=torch.float64)
    torch.testing.assert_close(log_g(v), g(v).log(), **TOL)


def test_the_mingru_gates_are_the_papers_equations():
    torch.manual_seed(0)
    cell = MinGRUCell(3, 4).double()
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    w_z, w_h = cell.linear.weight.chunk(2)
    b_z, b_h = cell.linear.bias.chunk(2)
    z, candidate = torch.sigmoid(x @ w_z.T + b_z), g(x @ w_h.T + b_h)
    expected = (1 - z) * h + z * candidate
    a, b = cell(x)
    log_a, log_b = cell.log_gates(x)
    torch.testing.assert_close(a * h + b, expected, **TOL)
    torch.testing.assert_close(log_a.exp() * h + log_b.exp(), expected, **TOL)


def test_the_minlstm_gates_are_the_papers_equations():
    torch.manual_seed(0)
    cell = MinLSTMCell(3, 4).double()
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    (w_f, w_i, w_h), (b_f, b_i, b_h) = cell.linear.weight.chunk(3), cell.linear.bias.chunk(3)
    f, i = torch.sigmoid(x @ w_f.T + b_f), torch.sigmoid(x @ w_i.T + b_i)
    candidate = g(x @ w_h.T + b_h)
    expected = f / (f + i) * h + i / (f + i) * candidate
    a, b = cell(x)
    log_a, log_b = cell.log_gates(x)
    torch.testing.assert_close(a * h + b, expected, **TOL)
    torch.testing.assert_close(log_a.exp() * h + log_b.exp(), expected, **TOL)


@pytest.mark.parametrize("cell", [MinGRUCell, MinLSTMCell])
def test_saturated_gates_stay_finite(cell):
    torch.manual_seed(0)
    cell = cell(1, 2)
    x = torch.tensor([[1e4], [-1e4]])  # f and i both 0 in float32 for one of them
    for gates in (cell(x), cell.log_gates(x)):
        assert all(torch.isfinite(t).all() for t in gates)
    a, b = cell(x)
    assert ((a >= 0) & (a <= 1)).all() and (b >= 0).all()


@pytest.mark.parametrize("cell", CELLS)
def test_every_scan_form_gives_the_same_outputs_and_gradients(cell):
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 5, 2])
    results = {}
    for scan in SCANS:
        net = net64(cell, scan).double()
        encoded = net(x, lengths)
        loss = encoded.outputs.square().sum() + encoded.state.square().sum()
        grads = torch.autograd.grad(loss, list(net.parameters()))
        results[scan] = (encoded.outputs, encoded.last, encoded.state, *grads)
    for scan in SCANS:
        for got, expected in zip(results[scan], results["sequential"], strict=True):
            torch.testing.assert_close(got, expected, **TOL, msg=f"scan={scan} differs")


def test_pretrained_embedding_rows_are_used():
    weights = torch.randn(4, 5)
    net = MinimalRNN(vocab_size=4, embedding_dim=5, pad_index=0, embedding_weights=weights)
    assert torch.equal(net.embedding.weight.detach(), weights)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_reach_every_parameter(cell):
    net = MinimalRNN(2, cell, hidden_size=4, num_layers=2, dropout=0.1)
    # Squared: the final LayerNorm's outputs sum to its bias's sum, whatever the input.
    net(torch.randn(3, 5, 2), torch.tensor([5, 3, 1])).outputs.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_no_mlp_leaves_the_blocks_without_one():
    net = MinimalRNN(2, mlp_expansion=0, hidden_size=4, num_layers=1)
    assert net.blocks[0].mlp is None
    projection, gates, norms = 2 * 4 + 4, 2 * (4 * 4 + 4), 2 * (2 * 4)  # the block's and last
    assert sum(p.numel() for p in net.parameters()) == projection + gates + norms


def test_a_chunk_of_one_step_through_forward_continues_the_state():
    # What rnnlab.generate does: a prompt through forward, then one token at a time.
    torch.manual_seed(0)
    net = MinimalRNN(2, "minlstm", hidden_size=5).eval()
    x = torch.randn(1, 6, 2)
    whole = net(x)
    state = net(x[:, :3]).state
    for t in range(3, 6):
        encoded = net(x[:, t : t + 1], state=state)
        state = encoded.state
    torch.testing.assert_close(encoded.outputs[:, 0], whole.outputs[:, -1])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cell": "gru"}, "model.cell='gru' is not one of mingru, minlstm."),
        ({"scan": "fast"}, "model.scan='fast' is not one of loop, parallel, chunked, log"),
        ({"hidden_size": 0}, "model.hidden_size=0 must be a whole number of at least 1."),
        ({"num_layers": 0}, "model.num_layers=0 must be a whole number of at least 1."),
        ({"chunk_size": 0}, "model.chunk_size=0 must be a whole number of at least 1."),
        ({"dropout": 1.0}, r"model.dropout=1.0 must be in \[0, 1\)"),
        ({"mlp_expansion": -1}, "model.mlp_expansion=-1 must be a whole number of at least 0"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        MinimalRNN(3, **settings)


def test_a_state_of_another_shape_is_refused():
    net = MinimalRNN(3, hidden_size=4, num_layers=2)
    with pytest.raises(ConfigError, match=r"^the state is \(1, 2, 4\), not \(2, 2, 4\); carry "):
        net(torch.randn(2, 3, 3), state=torch.zeros(1, 2, 4))
    with pytest.raises(
        ConfigError, match=r"^the state is \(2, 2, 4\), \(2, 2, 4\), not \(2, 2, 4\);"
    ):
        net.step(torch.randn(2, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4)))


def test_half_precision_inputs_are_scanned_in_float32():
    torch.manual_seed(0)
    net = MinimalRNN(3, hidden_size=4)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = net(x)
    assert encoded.state.dtype == torch.float32
    torch.testing.assert_close(encoded.outputs.float(), net(x).outputs, atol=0.1, rtol=0.1)


# 1500 steps: the scan runs in blocks with a tail, and the gates' matmuls are split
@pytest.mark.parametrize("steps", [7, 1500])
@pytest.mark.parametrize("padded", [False, True])
def test_the_mingru_loop_matches_the_generic_scan_with_a_carried_state(padded, steps):
    # scan=loop runs the minGRU's gates and scan as one function with its own backward: its
    # outputs and the gradients of the weights, the inputs and the carried state are the
    # sequential scan's.
    torch.manual_seed(0)
    x = torch.randn(3, steps, 4, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.float64)
    lengths = torch.tensor([steps, steps // 2 + 1, 1]) if padded else None
    results = []
    for scan in ("loop", "sequential"):
        torch.manual_seed(1)
        net = MinimalRNN(4, "mingru", hidden_size=4, num_layers=1, scan=scan).double()
        xs, state = x.clone().requires_grad_(True), h0[None].clone().requires_grad_(True)
        encoded = net(xs, lengths, state)
        loss = encoded.outputs.square().sum() + encoded.state.square().sum()
        results.append(torch.autograd.grad(loss, [xs, state, *net.parameters()]))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)


def test_the_gated_mlps_split_matmuls_are_the_one_linear():
    # From 4,096 rows GatedMLP computes the two halves of its up-projection as two matmuls:
    # the same outputs and gradients as the one linear layer chunked.
    torch.manual_seed(0)
    mlp = GatedMLP(5, 2).double()
    x = torch.randn(3, 1400, 5, dtype=torch.float64) * 3  # gates well into both signs
    results = []
    for split in (True, False):
        xs = x.clone().requires_grad_(True)
        if split:
            out = mlp(xs)
        else:
            value, gate = mlp.up(xs).chunk(2, -1)
            out = mlp.down(value * torch.nn.functional.silu(gate))
        weights = torch.randn(
            out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype
        )
        grads = torch.autograd.grad((out * weights).sum(), [xs, *mlp.parameters()])
        results.append((out, *grads))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, **TOL)

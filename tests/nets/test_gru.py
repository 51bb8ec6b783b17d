"""rnnlab's GRU: torch's ``nn.GRU`` with its own CPU training loop, held to torch's results."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.nets import RecurrentEncoder
from rnnlab.nets import gru as gru_module
from rnnlab.nets.gru import GRU


def graph_nodes(tensor: torch.Tensor) -> set[str]:
    """The names of every autograd node behind ``tensor``."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def torch_gru(gru: GRU, x, h0, lengths):
    """The same weights through torch's own ``nn.GRU``, padded rows packed."""
    reference = nn.GRU(
        gru.input_size,
        gru.hidden_size,
        num_layers=gru.num_layers,
        bidirectional=gru.bidirectional,
        batch_first=True,
    ).to(x.dtype)
    reference.load_state_dict(gru.state_dict())
    if lengths is None:
        return reference, *reference(x, h0)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = reference(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return reference, out, h_n


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
# The backward's factors for all 11 steps at once, or in blocks of 3 steps (4 rows x 7 units)
# and a tail of 2.
@pytest.mark.parametrize("factor_block", [gru_module.FACTOR_BLOCK, 3 * 4 * 7])
def test_outputs_state_and_gradients_equal_torchs_gru_in_float64(
    num_layers, bidirectional, padded, factor_block, monkeypatch
):
    monkeypatch.setattr(gru_module, "FACTOR_BLOCK", factor_block)
    torch.manual_seed(num_layers + 2 * bidirectional + 4 * padded)
    gru = GRU(5, 7, num_layers=num_layers, bidirectional=bidirectional, batch_first=True).double()
    directions = 2 if bidirectional else 1
    x = torch.randn(4, 11, 5, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(num_layers * directions, 4, 7, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([11, 3, 7, 1]) if padded else None

    out, h_n = gru(x, h0, lengths=lengths)
    assert "_GRULoopBackward" in graph_nodes(out)  # rnnlab's loop ran, not torch's kernel
    reference, ref_out, ref_h_n = torch_gru(gru, x, h0, lengths)

    assert torch.allclose(out, ref_out, atol=1e-12, rtol=0)
    assert torch.allclose(h_n, ref_h_n, atol=1e-12, rtol=0)
    w_out, w_h = torch.randn_like(out), torch.randn_like(h_n)
    mine = torch.autograd.grad((out * w_out).sum() + (h_n * w_h).sum(), [x, h0, *gru.parameters()])
    theirs = torch.autograd.grad(
        (ref_out * w_out).sum() + (ref_h_n * w_h).sum(), [x, h0, *reference.parameters()]
    )
    for a, b in zip(mine, theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_padding_changes_nothing_at_real_steps():
    """A padded batch gives each row what the row alone gives, and the state at its end."""
    torch.manual_seed(0)
    gru = GRU(3, 6, num_layers=2, bidirectional=True, batch_first=True)
    rows = [torch.randn(n, 3) for n in (9, 4, 6)]
    x = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    out, h_n = gru(x, lengths=torch.tensor([9, 4, 6]))
    for b, row in enumerate(rows):
        alone, h_alone = gru(row[None])
        assert torch.allclose(out[b, : len(row)], alone[0], atol=1e-6)
        assert torch.allclose(h_n[:, b], h_alone[:, 0], atol=1e-6)
        assert not out[b, len(row) :].any()  # padded steps output zero


def test_float32_training_matches_torch_and_evaluation_is_torchs_own():
    torch.manual_seed(1)
    gru = GRU(4, 16, num_layers=2, batch_first=True)
    x = torch.randn(8, 30, 4)
    out, h_n = gru(x)
    reference, ref_out, ref_h_n = torch_gru(gru, x, None, None)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(h_n, ref_h_n, atol=1e-5)
    with torch.no_grad():  # evaluation and generation run torch's kernel
        out_eval, _ = gru(x)
    assert torch.equal(out_eval, reference(x)[0].detach())


def test_state_dict_is_torchs():
    """Checkpoints move both ways between rnnlab's GRU and ``torch.nn.GRU``."""
    gru = GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    reference = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    assert gru.state_dict().keys() == reference.state_dict().keys()
    gru.load_state_dict(reference.state_dict())
    reference.load_state_dict(gru.state_dict())


def test_dropout_between_layers_applies_in_training_only():
    torch.manual_seed(2)
    gru = GRU(3, 8, num_layers=2, dropout=0.5, batch_first=True)
    x = torch.randn(4, 10, 3)
    first, _ = gru(x)
    second, _ = gru(x)
    assert not torch.allclose(first, second)  # a fresh dropout mask per call
    gru.eval()
    reference = torch_gru(gru, x, None, None)[0].eval()
    assert torch.allclose(gru(x)[0], reference(x)[0], atol=1e-6)


def test_batch_major_only():
    with pytest.raises(ValueError, match="batch-first"):
        GRU(3, 4)


def test_the_encoders_gru_trains_through_rnnlabs_loop_plain_and_residual():
    for block in ("plain", "residual"):
        net = RecurrentEncoder(input_size=3, cell="gru", hidden_size=8, num_layers=2, block=block)
        out = net(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2])).outputs
        assert "_GRULoopBackward" in graph_nodes(out), block


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast_trains_in_the_parameters_precision(dtype):
    """Lightning's ``bf16-mixed``/``16-mixed`` on CPU: the loop runs in float32 (torch's own GRU
    returns float32 there too, from products it takes in the lower precision)."""
    torch.manual_seed(3)
    gru = GRU(3, 8, batch_first=True)
    x = torch.randn(2, 5, 3)
    reference = torch_gru(gru, x, None, None)[0]
    with torch.autocast("cpu", dtype=dtype):
        out, h_n = gru(x)
        autocast_out, _ = reference(x)
    assert out.dtype == autocast_out.dtype == torch.float32
    assert "_GRULoopBackward" in graph_nodes(out)
    assert torch.allclose(out, reference(x)[0], atol=1e-6)  # float32's result
    assert torch.allclose(out, autocast_out, atol=2e-2)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in gru.parameters())


def test_a_single_step_runs_torchs_kernel():
    """A decoder fed one token at a time gains nothing from the loop: torch's GRU runs it."""
    gru = GRU(3, 4, batch_first=True)
    out, _ = gru(torch.randn(2, 1, 3))
    assert "_GRULoopBackward" not in graph_nodes(out)
    assert "_GRULoopBackward" in graph_nodes(gru(torch.randn(2, 2, 3))[0])

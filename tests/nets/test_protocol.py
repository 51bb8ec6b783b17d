"""Every net that ``conf/model/`` offers keeps the encoder protocol, checked the same way for
each: built from its YAML for the data it can read, it has the protocol's interface, its shapes,
and each capability it declares holds (padding, causality, carried state).

A new net's YAML is picked up here with no edit to this file."""

from pathlib import Path

import pytest
import torch

from rnnlab.build import build_net
from rnnlab.cli import available
from rnnlab.data.specs import ClassesSpec, Inputs, PairsSpec
from rnnlab.nets.base import linear_parts
from rnnlab.nets.protocol import Capabilities, EncoderDecoder
from rnnlab.tasks import ClassificationTask, Seq2SeqTask
from rnnlab.testing import check_encoder
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config

SOURCE = ("<pad>", "<unk>", *"abcdefgh")
TARGET = ("<pad>", "<unk>", "<bos>", "<eos>", *"wxyz")
# One spec of each kind of input, with the task that reads it.
PROBES = {
    "features": (ClassificationTask, ClassesSpec(Inputs(features=3), ("a", "b"))),
    "tokens": (ClassificationTask, ClassesSpec(Inputs(vocab=SOURCE, pad_index=0), ("a", "b"))),
    "frames": (ClassificationTask, ClassesSpec(Inputs(frame_shape=(1, 8, 8)), ("a", "b"))),
    "pairs": (Seq2SeqTask, PairsSpec(Inputs(vocab=SOURCE, pad_index=0), target_vocab=TARGET)),
}
B, T = 3, 7


def built(model: str, tmp_path, *overrides: str) -> dict[str, torch.nn.Module]:
    """The net ``model=<model> <overrides>`` builds for each probe it can read, in eval mode."""
    nets = {}
    for kind, (task, spec) in PROBES.items():
        cfg = compose_config("train", [f"model={model}", *overrides], tmp_path)
        if "hidden_size" in cfg.model:
            cfg.model.hidden_size = 8  # small, and a multiple of any head count
        torch.manual_seed(0)
        try:
            nets[kind] = build_net(cfg, task.net_arguments(spec), spec).eval()
        except ConfigError as error:
            assert "cannot read" in str(error), error  # the one way a net may refuse data
    return nets


def inputs(kind: str, batch: int = B, steps: int = T) -> torch.Tensor:
    if kind == "features":
        return torch.randn(batch, steps, 3)
    if kind == "frames":
        return torch.randn(batch, steps, 1, 8, 8)
    return torch.randint(1, len(SOURCE), (batch, steps))


@pytest.mark.parametrize("model", available("model"))
def test_every_net_keeps_the_protocol(model, tmp_path):
    nets = built(model, tmp_path)
    assert nets, f"model={model} reads none of the probes' data: {', '.join(PROBES)}"
    for kind, net in nets.items():
        capabilities = net.capabilities
        assert isinstance(capabilities, Capabilities)
        assert not (capabilities.bidirectional and capabilities.causal)
        if kind == "pairs":
            check_encoder_decoder(net)
        else:
            check_sequence_encoder(net, kind)


BIDIRECTIONAL = [
    m
    for m in available("model")
    if "bidirectional" in compose_config("train", [f"model={m}"], Path(".")).model
]


@pytest.mark.parametrize("model", BIDIRECTIONAL)
def test_every_bidirectional_net_declares_what_it_can_do(model, tmp_path):
    # A backward direction starts at a chunk's end: such a net carries no state across chunks.
    nets = built(model, tmp_path, "model.bidirectional=true")
    for kind, net in nets.items():
        assert not net.capabilities.causal  # (cnn_avg reads every frame, in no direction)
        if kind != "pairs":
            assert not net.capabilities.carries_state
            check_sequence_encoder(net, kind)


def check_sequence_encoder(net, kind: str) -> None:
    assert net.capabilities.reads == kind
    check_encoder(net, inputs(kind))


def check_encoder_decoder(net) -> None:
    assert isinstance(net, EncoderDecoder) and net.capabilities.reads == "tokens"
    source, lengths = inputs("tokens"), torch.tensor([T, 4, 2])
    target_in = torch.randint(4, len(TARGET), (B, 5))
    target_in[:, 0] = net.bos_index
    with torch.no_grad():
        logits, _ = net(source, lengths, target_in)
        assert logits.shape == (B, 5, len(TARGET))
        for decoded in (net.greedy(source, lengths, 6), net.beam_search(source, lengths, 2, 6)):
            assert len(decoded) == B and all(len(ids) <= 6 for ids in decoded)
            assert all(net.eos_index not in ids for ids in decoded)


@pytest.mark.parametrize("rows", [10, 4096])  # from 4,096 rows: split matmuls
@pytest.mark.parametrize("parts", [2, 3])
def test_linear_parts_are_the_linear_layers_output_chunked(rows, parts):
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 4 * parts).double()
    x = torch.randn(rows // 2, 2, 5, dtype=torch.float64, requires_grad=True)
    results = []
    for split in (True, False):
        outs = linear_parts(x, linear, parts) if split else linear(x).chunk(parts, -1)
        if split and rows >= 4096:
            assert all(out.is_contiguous() for out in outs)
        loss = sum((out * (i + 1)).square().sum() for i, out in enumerate(outs))
        results.append((*outs, *torch.autograd.grad(loss, [x, *linear.parameters()])))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)

"""``model.block=residual``: the classic cells in the pre-norm residual block of the modern nets."""

import pytest
import torch

from rnnlab.callbacks.diagnostics import measures_state_gradients, state_gradient_norms
from rnnlab.data.batch import Batch
from rnnlab.data.specs import ForecastSpec, Inputs
from rnnlab.generate import generate
from rnnlab.nets import RecurrentEncoder
from rnnlab.nets.residual import PreNormResidualBlock
from rnnlab.tasks import ForecastingTask
from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config

CELLS = ["rnn", "lstm", "gru"]
IMPLS = ["fused", "scratch"]


def residual(cell: str, **kwargs) -> RecurrentEncoder:
    torch.manual_seed(0)
    kwargs = {"hidden_size": 6, "num_layers": 2, **kwargs}
    return RecurrentEncoder(3, cell, block="residual", **kwargs).double().eval()


def h_of(state):
    return state[0] if isinstance(state, tuple) else state


def assert_states_equal(a, b):
    for x, y in zip(*((s if isinstance(s, tuple) else (s,)) for s in (a, b)), strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("cell", CELLS)
def test_residual_and_plain_build_with_their_shapes(cell):
    x = torch.randn(2, 5, 3)
    plain = RecurrentEncoder(3, cell, hidden_size=6, num_layers=2, bidirectional=True)
    encoded = plain(x)
    assert plain.blocks is None and plain.output_size == 12
    assert encoded.outputs.shape == (2, 5, 12) and encoded.last.shape == (2, 12)
    assert h_of(encoded.state).shape == (4, 2, 6)

    net = RecurrentEncoder(3, cell, hidden_size=6, num_layers=3, block="residual")
    encoded = net(x)
    assert net.rnn is None and net.output_size == 6
    assert len(net.blocks) == 3 and all(isinstance(b, PreNormResidualBlock) for b in net.blocks)
    assert all(b.mixer.rnn.num_layers == 1 for b in net.blocks)  # one cell per block
    assert encoded.outputs.shape == (2, 5, 6) and encoded.last.shape == (2, 6)
    state = encoded.state
    assert isinstance(state, tuple) == (cell == "lstm")
    assert all(s.shape == (3, 2, 6) for s in (state if isinstance(state, tuple) else (state,)))
    # The final LayerNorm: every step's output has zero mean over the stream.
    torch.testing.assert_close(encoded.outputs.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_a_padded_batch_equals_the_unpadded_sequences(cell, impl):
    net = residual(cell, impl=impl)
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    x = x.masked_fill(torch.arange(5)[None, :, None] >= lengths[:, None, None], 7.0)  # junk pad
    batch = net(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        alone = net(x[row : row + 1, :n])
        torch.testing.assert_close(batch.outputs[row, :n], alone.outputs[0])
        torch.testing.assert_close(batch.last[row], alone.outputs[0, -1])
        assert not batch.outputs[row, n:].any()  # zero on padded steps
        for part, single in zip(
            batch.state if cell == "lstm" else (batch.state,),
            alone.state if cell == "lstm" else (alone.state,),
            strict=True,
        ):
            torch.testing.assert_close(part[:, row], single[:, 0])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_two_chunks_with_the_carried_state_equal_one_pass(cell, impl):
    net = residual(cell, impl=impl, num_layers=3)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    whole = net(x)
    first = net(x[:, :4])
    second = net(x[:, 4:], state=first.state)
    torch.testing.assert_close(torch.cat([first.outputs, second.outputs], 1), whole.outputs)
    torch.testing.assert_close(second.last, whole.last)
    assert_states_equal(second.state, whole.state)
    # The state matters: the second chunk from scratch reads differently.
    assert not torch.allclose(net(x[:, 4:]).outputs, second.outputs)


@pytest.mark.parametrize("cell", CELLS)
def test_the_fused_and_scratch_residual_stacks_agree(cell):
    fused, scratch = residual(cell), residual(cell, impl="scratch")
    scratch.load_state_dict(fused.state_dict())
    x, lengths = torch.randn(2, 6, 3, dtype=torch.float64), torch.tensor([6, 3])
    a, b = fused(x, lengths), scratch(x, lengths)
    torch.testing.assert_close(a.outputs, b.outputs)
    assert_states_equal(a.state, b.state)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_blocks_split_the_stream_and_honour_padding(cell, impl):
    net = residual(cell, impl=impl, bidirectional=True, hidden_size=8)
    assert net.output_size == 8 and net.capabilities.bidirectional
    lengths = torch.tensor([5, 3])
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    batch = net(x, lengths)
    assert batch.outputs.shape == (2, 5, 8) and batch.last.shape == (2, 8)
    assert all(s.shape == (4, 2, 4) for s in (batch.state if cell == "lstm" else (batch.state,)))
    alone = net(x[1:, :3])
    torch.testing.assert_close(batch.outputs[1, :3], alone.outputs[0])
    assert not batch.outputs[1, 3:].any()
    # The backward direction reads the row from its own last step, so the first step sees it.
    torch.testing.assert_close(batch.last[1], (alone.outputs[0, 0] + alone.outputs[0, -1]) / 2)
    changed = x.clone()
    changed[1, 2] += 1.0
    assert not torch.allclose(net(changed, lengths).outputs[1, 0], batch.outputs[1, 0])


def test_gradients_reach_every_parameter():
    net = RecurrentEncoder(3, "lstm", hidden_size=6, num_layers=2, block="residual")
    # Squared: the final LayerNorm's outputs sum to its bias's sum, whatever the input.
    net(torch.randn(2, 4, 3), torch.tensor([4, 2])).outputs.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_dropout_falls_on_the_block_outputs_not_inside_the_cell():
    torch.manual_seed(0)
    net = RecurrentEncoder(3, "gru", hidden_size=6, num_layers=2, dropout=0.5, block="residual")
    assert all(b.drop.p == 0.5 and b.mixer.rnn.dropout == 0.0 for b in net.blocks)
    x = torch.randn(2, 4, 3)
    assert not torch.allclose(net(x).outputs, net(x).outputs)  # training: a fresh mask each
    net.eval()
    torch.testing.assert_close(net(x).outputs, net(x).outputs)


def test_token_and_character_inputs_are_projected_to_the_stream():
    torch.manual_seed(0)
    net = RecurrentEncoder(
        vocab_size=10, pad_index=0, embedding_dim=4, hidden_size=6, block="residual",
        char_vocab_size=9, char_encoder="cnn", char_embedding_dim=5, char_hidden_size=4,
    )  # fmt: skip
    words = torch.tensor([[1, 1, 0]])
    chars = torch.tensor([[[2, 3, 0], [4, 5, 6], [0, 0, 0]]])
    encoded = net(torch.cat([words[..., None], chars], -1), torch.tensor([2]))
    assert encoded.outputs.shape == (1, 3, 6) and net.capabilities.reads == "tokens"
    assert not torch.allclose(encoded.outputs[0, 0], encoded.outputs[0, 1])  # chars differ


def test_bad_values_are_refused_in_one_sentence():
    with pytest.raises(ConfigError, match=r"model.block='stacked' is not one of plain, residual"):
        RecurrentEncoder(3, "lstm", block="stacked")
    with pytest.raises(ConfigError, match="model.hidden_size=7 must be even"):
        RecurrentEncoder(3, "gru", hidden_size=7, bidirectional=True, block="residual")
    with pytest.raises(ConfigError, match="model.mlp_expansion=-1 must be a whole number"):
        RecurrentEncoder(3, "gru", block="residual", mlp_expansion=-1)
    net = RecurrentEncoder(3, "gru", hidden_size=6, num_layers=2, block="residual")
    with pytest.raises(ConfigError, match=r"the state is \[\(1, 2, 6\)\], not"):
        net(torch.randn(2, 4, 3), state=torch.zeros(1, 2, 6))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_state_gradient_diagnostics_read_a_residual_stack(cell):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, cell, hidden_size=5, num_layers=2, block="residual")
    assert measures_state_gradients(net)
    task = ForecastingTask(net, ForecastSpec(Inputs(features=2), horizon=1), torch.optim.SGD)
    batch = Batch(x=torch.randn(4, 7, 2), y=torch.randn(4, 1, 1))
    norms = state_gradient_norms(task, batch)  # (T-1,)
    assert norms.shape == (6,) and bool((norms > 0).all()) and bool(norms.isfinite().all())


FAST = [
    "model=lstm",
    "model.block=residual",
    "model.hidden_size=8",
    "model.num_layers=2",
    "trainer=cpu",
    "trainer.max_steps=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def test_a_residual_lstm_trains_on_features(tmp_path):
    out = tmp_path / "run"
    overrides = [*FAST, "data=sine", "data.length=600", "data.batch_size=16"]
    metrics, objects = run([*overrides, f"hydra.run.dir={out}"])
    assert objects["trainer"].global_step == 2
    assert objects["net"].blocks is not None and len(objects["net"].blocks) == 2
    assert metrics["test/mse"] > 0 and (out / "metrics.json").exists()


def test_a_residual_lstm_language_model_trains_and_generates(tmp_path):
    out = tmp_path / "run"
    overrides = [*FAST, "data=text", "data.seq_len=16", "data.batch_size=4", "task.tbptt_steps=8"]
    metrics, objects = run([*overrides, f"hydra.run.dir={out}"])
    assert objects["trainer"].global_step == 2 and objects["net"].blocks is not None
    assert metrics["test/bpc"] > 0
    ckpt = out / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", "prompt=The", "length=12", "temperature=0"]
    text = generate(compose_config("generate", args, tmp_path))
    assert text.startswith("The") and len(text) == len("The") + 12

import math
from functools import partial

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from rnnlab.build import build_trainer
from rnnlab.data.batch import Batch
from rnnlab.data.specs import Inputs, StreamSpec
from rnnlab.data.text import TextDataModule
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks.language_model import LanguageModelTask, decode, encode
from rnnlab.utils.errors import ConfigError
from tests.conftest import needs_cpu_bf16_lstm

VOCAB = 12


def make_task(tbptt_steps=None, seq_len=8, cell="lstm", carry_state=True, lr=0.1, **net):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(cell=cell, hidden_size=16, vocab_size=VOCAB, embedding_dim=6, **net)
    spec = StreamSpec(Inputs(vocab=tuple(f"t{i}" for i in range(VOCAB))), seq_len=seq_len)
    return LanguageModelTask(
        encoder,
        spec,
        optimizer=partial(torch.optim.SGD, lr=lr),
        tbptt_steps=tbptt_steps,
        carry_state=carry_state,
    )


class Recorder(L.Callback):
    """After every training batch, the gradients its last optimizer step applied."""

    def __init__(self):
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.grads.append(
            {n: p.grad.clone() for n, p in pl_module.named_parameters() if p.grad is not None}
        )


def fit(task, batches, recorder=None, **trainer):
    """Train ``task`` for one epoch over ``batches`` with a trainer built as ``rnnlab.train``
    builds it (so clipping settings reach a task that optimises by hand)."""
    node = OmegaConf.create(
        {
            "_target_": "lightning.Trainer",
            "max_epochs": 1,
            "accelerator": "cpu",
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            **trainer,
        }
    )
    built = build_trainer(node, task, callbacks=[recorder] if recorder else [])
    built.fit(task, train_dataloaders=DataLoader(batches, batch_size=None, collate_fn=lambda b: b))
    return built


def chunked_batch(*chunks: list[int]) -> Batch:
    """One lane whose chunks use the given tokens; ``y`` repeats ``x``'s tokens."""
    x = torch.tensor([[t for chunk in chunks for t in chunk]])
    return Batch(x=x, y=x.roll(-1, 1))


def embedding_rows_with_gradient(grads) -> set[int]:
    weight = grads["net.embedding.weight"]
    return set(weight.abs().sum(1).nonzero().flatten().tolist())


def test_no_gradient_flows_past_a_chunk_boundary():
    # Chunk one reads tokens 0-3, chunk two tokens 4-7: under truncation, the second step's
    # gradient reaches only the embeddings of the tokens in its own chunk.
    batch = chunked_batch([0, 1, 2, 3], [4, 5, 6, 7])
    truncated, whole = Recorder(), Recorder()
    fit(make_task(tbptt_steps=4), [batch], truncated)
    fit(make_task(tbptt_steps=None), [batch], whole)
    assert embedding_rows_with_gradient(truncated.grads[0]) == {4, 5, 6, 7}
    assert embedding_rows_with_gradient(whole.grads[0]) == set(range(8))


def test_every_chunk_is_one_optimizer_step_and_the_state_is_carried():
    task = make_task(tbptt_steps=3, seq_len=8)
    batches = [chunked_batch(list(range(8))) for _ in range(2)]
    trainer = fit(task, batches)
    assert trainer.global_step == 2 * 3  # chunks of 3, 3 and 2 tokens per batch
    assert task.chunks_per_batch == 3
    h, c = task._states["train"]
    assert h.shape == (1, 1, 16) and not h.requires_grad
    task.on_train_epoch_start()
    assert task._states["train"] is None


def test_without_carry_each_chunk_starts_from_zeros():
    batch = chunked_batch([0, 1, 2, 3], [4, 5, 6, 7])
    task = make_task(tbptt_steps=4, carry_state=False, lr=0.0)
    recorder = Recorder()
    fit(task, [batch], recorder)
    # With no state carried in, the second chunk's step equals a fresh run on that chunk alone.
    alone = Recorder()
    second = Batch(x=batch.x[:, 4:], y=batch.y[:, 4:])
    fit(make_task(tbptt_steps=4, carry_state=False, lr=0.0), [second], alone)
    for name, grad in alone.grads[0].items():
        torch.testing.assert_close(recorder.grads[0][name], grad)


@pytest.mark.parametrize(
    "precision", ["32-true", pytest.param("bf16-mixed", marks=needs_cpu_bf16_lstm)]
)  # 16-mixed: tests/test_gpu.py
def test_gradient_clipping_by_norm_is_honoured(precision):
    batch = chunked_batch([0, 1, 2, 3], [4, 5, 6, 7])
    clipped, free = Recorder(), Recorder()
    clip = 1e-3
    fit(make_task(tbptt_steps=4), [batch], clipped, gradient_clip_val=clip, precision=precision)
    fit(make_task(tbptt_steps=4), [batch], free, precision=precision)

    def norm(grads):
        return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])).item()

    assert norm(free.grads[0]) > 100 * clip
    assert norm(clipped.grads[0]) == pytest.approx(clip, rel=1e-3)


def test_gradient_clipping_by_value_is_honoured():
    recorder = Recorder()
    batch = chunked_batch([0, 1, 2, 3], [4, 5, 6, 7])
    settings = {"gradient_clip_val": 1e-4, "gradient_clip_algorithm": "value"}
    fit(make_task(tbptt_steps=4), [batch], recorder, **settings)
    largest = max(g.abs().max().item() for g in recorder.grads[0].values())
    assert largest == pytest.approx(1e-4)


def test_validation_carries_the_state_over_the_whole_stream(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("".join("abcdefgh"[(i * i) % 8] for i in range(2000)))
    dm = TextDataModule(str(path), seq_len=16, batch_size=4, splits=[0.5, 0.5, 0.0])
    task = make_task(cell="gru")
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    (metrics,) = trainer.validate(task, datamodule=dm, verbose=False)

    # The same stream read lane by lane in one pass each: batches that carry the state
    # across their boundaries give exactly this loss.
    batches = list(dm.val_dataloader())
    x = torch.cat([b.x for b in batches], 1)
    y = torch.cat([b.y for b in batches], 1)
    with torch.no_grad():
        logits, _ = task(x)
    expected = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["val/bpc"] == pytest.approx(expected / math.log(2), rel=1e-5)
    assert metrics["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_greedy_sampling_is_deterministic_and_top_k_1_is_greedy():
    task = make_task()
    greedy = task.sample([1, 2], 20, temperature=0)
    assert greedy == task.sample([1, 2], 20, temperature=0)
    assert greedy == task.sample([1, 2], 20, temperature=1.0, top_k=1)
    drawn = [task.sample([1], 20, 1.0, None, torch.Generator().manual_seed(3)) for _ in "ab"]
    assert drawn[0] == drawn[1] and len(drawn[0]) == 20
    assert all(0 <= t < VOCAB for t in drawn[0])


def test_a_bidirectional_net_is_refused():
    with pytest.raises(ConfigError, match="model.bidirectional=false"):
        make_task(bidirectional=True)


def test_encode_and_decode_round_trip_and_name_unknown_characters():
    vocab = ("\n", " ", "a", "b")
    assert decode(encode("ab a\n", vocab), vocab) == "ab a\n"
    with pytest.raises(ConfigError, match=r"the prompt holds 'z', not in the model's vocab"):
        encode("abz", vocab)

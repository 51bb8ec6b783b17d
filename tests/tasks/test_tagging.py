from functools import partial

import lightning as L
import pytest
import torch

from rnnlab.data.batch import Batch, InMemoryDataModule, SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks.tagging import IGNORE, EntityScores, TaggingTask, entity_spans, is_bio

TAGS = ["B-PER", "I-PER", "B-LOC", "O"]


def make_task(num_classes=4, vocab_size=10, bidirectional=False, names=None, lr=0.01):
    torch.manual_seed(0)
    net = RecurrentEncoder(
        cell="gru", hidden_size=16, vocab_size=vocab_size, embedding_dim=8, pad_index=0,
        bidirectional=bidirectional,
    )  # fmt: skip
    optimizer = partial(torch.optim.Adam, lr=lr)
    vocab = ("<pad>", "<unk>", *(str(i) for i in range(vocab_size - 2)))
    names = tuple(names or (str(i) for i in range(num_classes)))
    spec = ClassesSpec(Inputs(vocab=vocab, pad_index=0), class_names=names, aligned=True)
    return TaggingTask(net, spec, optimizer=optimizer)


def test_entity_spans_read_bio_and_iob1():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {(0, 2, "PER"), (3, 4, "LOC")}
    assert entity_spans(["I-PER", "I-PER", "I-LOC"]) == {(0, 2, "PER"), (2, 3, "LOC")}
    assert entity_spans(["B-PER", "B-PER"]) == {(0, 1, "PER"), (1, 2, "PER")}
    assert is_bio(TAGS) and not is_bio(["NOUN", "VERB"]) and not is_bio(["O"])


def test_entity_scores_need_exact_spans():
    metric = EntityScores(TAGS)
    gold = torch.tensor([[0, 1, 3, 2, IGNORE]])
    guess = torch.tensor([[0, 3, 3, 2, 2]])  # PER cut short; LOC right; padding ignored
    metric.update(guess, gold)
    scores = metric.compute()
    assert scores["entity_precision"] == pytest.approx(1 / 2)
    assert scores["entity_recall"] == pytest.approx(1 / 2)


def test_padding_never_changes_the_loss_or_the_metrics():
    task = make_task(names=TAGS).eval()
    x, y = torch.tensor([[4, 5, 6]]), torch.tensor([[0, 1, 3]])
    alone = Batch(x, y, torch.tensor([3]), torch.ones(1, 3, dtype=torch.bool))
    other = torch.tensor([7, 8, 9, 4, 5, 6, 7])
    xs, lengths = pad_sequences([x[0], other])
    ys, _ = pad_sequences([y[0], torch.tensor([3, 3, 0, 1, 3, 2, 3])], value=IGNORE)
    mask = torch.arange(7)[None] < lengths[:, None]
    padded = Batch(xs, ys, lengths, mask)
    with torch.no_grad():
        loss_alone, logits_alone = task.compute_loss(alone)
        _, logits_padded = task.compute_loss(padded)
    torch.testing.assert_close(logits_padded[0, :3], logits_alone[0])
    # The padded row's loss, with the other row's targets ignored, equals the lone loss.
    only_first = Batch(xs, torch.cat([ys[:1], torch.full_like(ys[1:], IGNORE)]), lengths, mask)
    with torch.no_grad():
        loss_first, _ = task.compute_loss(only_first)
    torch.testing.assert_close(loss_first, loss_alone)
    assert int(task.loss_weight(padded)) == 10  # valid positions, not B * T

    # The metrics: the padded batch's first row scores as the lone sequence does, and the
    # padded positions (whatever is predicted there) are not counted.
    scores = []
    first_row = only_first.y[:1]  # (1, 7): three tags, then padding
    for logits, y in ((logits_alone, alone.y), (logits_padded[:1], first_row)):
        task.metrics["test"].reset()
        task.metrics["test"].update(logits.argmax(-1), y)
        scores.append({k: float(v) for k, v in task.metrics["test"].compute().items()})
    assert scores[0] == scores[1]


class RightContext(InMemoryDataModule):
    """Tag each token with the token after it (the last with its own): only a net that reads
    the right context can do better than chance."""

    def setup(self, stage=None):
        if self.datasets:
            return
        generator = torch.Generator().manual_seed(0)
        for split, n in (("train", 1200), ("val", 200), ("test", 200)):
            x = torch.randint(1, 5, (n, 12), generator=generator)
            y = torch.cat([x[:, 1:], x[:, -1:]], 1) - 1  # tags 0..3
            self.datasets[split] = SequenceDataset(x, torch.full((n,), 12), y, aligned=True)


@pytest.mark.parametrize("bidirectional, low, high", [(False, 0.0, 0.45), (True, 0.9, 1.0)])
def test_bidirectional_tagging_beats_unidirectional_where_the_right_context_decides(
    bidirectional, low, high
):
    task = make_task(vocab_size=5, bidirectional=bidirectional, lr=0.02)
    trainer = L.Trainer(
        max_epochs=8, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    data = RightContext(batch_size=64)
    trainer.fit(task, datamodule=data)
    (metrics,) = trainer.test(task, datamodule=data, verbose=False)
    assert low <= metrics["test/acc"] <= high

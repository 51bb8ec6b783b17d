from functools import partial

import lightning as L
import pytest
import torch

from rnnlab.data.batch import Batch, InMemoryDataModule, SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks.tagging import IGNORE, EntityScores, TaggingTask, is_bio

TAGS = ["B-PER", "I-PER", "B-LOC", "O"]


def make_task(num_classes=4, vocab_size=10, bidirectional=False, names=None, lr=0.01, crf=False):
    torch.manual_seed(0)
    net = RecurrentEncoder(
        cell="gru", hidden_size=16, vocab_size=vocab_size, embedding_dim=8, pad_index=0,
        bidirectional=bidirectional,
    )  # fmt: skip
    optimizer = partial(torch.optim.Adam, lr=lr)
    vocab = ("<pad>", "<unk>", *(str(i) for i in range(vocab_size - 2)))
    names = tuple(names or (str(i) for i in range(num_classes)))
    spec = ClassesSpec(Inputs(vocab=vocab, pad_index=0), class_names=names, aligned=True)
    return TaggingTask(net, spec, optimizer=optimizer, crf=crf)


def test_bio_tag_sets_are_told_apart():
    assert is_bio(TAGS) and not is_bio(["NOUN", "VERB"]) and not is_bio(["O"])


def test_entity_scores_need_exact_spans_and_are_given_per_type():
    pytest.importorskip("seqeval")
    metric = EntityScores(TAGS)
    gold = torch.tensor([[0, 1, 3, 2, IGNORE], [2, 3, IGNORE, IGNORE, IGNORE]])
    # PER cut short; both LOCs right; padding ignored whatever is predicted there.
    guess = torch.tensor([[0, 3, 3, 2, 2], [2, 3, 0, 0, 0]])
    metric.update(guess[:1], gold[:1])
    metric.update(guess[1:], gold[1:])  # sentences of separate batches stay apart
    scores = {k: float(v) for k, v in metric.compute().items()}
    assert scores["entity_precision"] == pytest.approx(2 / 3)
    assert scores["entity_recall"] == pytest.approx(2 / 3)
    assert scores["entity_f1_LOC"] == 1.0 and scores["entity_f1_PER"] == 0.0
    # An I- tag after O starts an entity, as conlleval reads it: PER found here.
    metric.reset()
    metric.update(torch.tensor([[1, 1, 3]]), torch.tensor([[0, 1, 3]]))
    assert float(metric.compute()["entity_f1"]) == 1.0


def test_the_baseline_is_scored_by_the_models_entity_metrics():
    pytest.importorskip("seqeval")
    task = make_task(names=TAGS)
    targets = torch.tensor([[0, 1, 3, 2, IGNORE]])
    scores = task.score_baseline(torch.tensor([[0, 1, 3, 3, 3]]), targets)
    assert scores["acc"] == pytest.approx(3 / 4)
    assert scores["entity_precision"] == 1.0 and scores["entity_recall"] == 0.5
    assert task.metric_mode("test/most_frequent_tag_entity_f1_PER") == "max"
    assert task.metric_mode("val/entity_f1_LOC_best") == "max"
    assert make_task().score_baseline(torch.tensor([[0, 1]]), torch.tensor([[0, 2]])) == {
        "acc": 0.5
    }


def test_the_crf_loss_and_viterbi_tags_skip_padding():
    task = make_task(names=TAGS, crf=True).eval()
    x, y = torch.tensor([[4, 5, 6]]), torch.tensor([[0, 1, 3]])
    alone = Batch(x, y, torch.tensor([3]), torch.ones(1, 3, dtype=torch.bool))
    xs, lengths = pad_sequences([x[0], torch.tensor([7, 8, 9, 4, 5])])
    ys, _ = pad_sequences([y[0], torch.full((5,), IGNORE)], value=IGNORE)
    padded = Batch(xs, ys, lengths, torch.arange(5)[None] < lengths[:, None])
    with torch.no_grad():
        loss_alone, _ = task.compute_loss(alone)
        loss_padded, _ = task.compute_loss(padded)
        torch.testing.assert_close(
            loss_alone, task.crf(task(x), y, alone.mask).sum() / 3
        )  # the sentence's NLL per valid step
        assert task.predict(padded)[0] == task.predict(alone)[0]
        assert [len(t) for t in task.predict(padded)] == [3, 5]
    assert loss_padded > 0


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


@pytest.mark.parametrize(
    "bidirectional, crf, low, high",
    [(False, False, 0.0, 0.45), (True, False, 0.9, 1.0), (True, True, 0.9, 1.0)],
)
def test_bidirectional_tagging_beats_unidirectional_where_the_right_context_decides(
    bidirectional, crf, low, high
):
    task = make_task(vocab_size=5, bidirectional=bidirectional, lr=0.02, crf=crf)
    trainer = L.Trainer(
        max_epochs=8, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    data = RightContext(batch_size=64)
    trainer.fit(task, datamodule=data)
    (metrics,) = trainer.test(task, datamodule=data, verbose=False)
    assert low <= metrics["test/acc"] <= high

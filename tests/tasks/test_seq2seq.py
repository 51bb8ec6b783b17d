import pytest
import torch

from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.seq2seq import teacher_forcing_ratio
from rnnlab.train import train
from tests.conftest import compose_config

QUICK = [
    "model=seq2seq",
    "model.hidden_size=32",
    "data.num_train=256",
    "data.num_val=64",
    "data.num_test=64",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def test_teacher_forcing_schedules():
    assert teacher_forcing_ratio("constant", 0.8, 500, 1000, 10) == 0.8
    assert teacher_forcing_ratio("linear", 1.0, 250, 1000, 10) == pytest.approx(0.75)
    decay = [teacher_forcing_ratio("inverse_sigmoid", 1.0, s, 10**6, 5) for s in (0, 500, 2000)]
    assert decay[0] == pytest.approx(5 / 6) and decay[0] > decay[1] > decay[2] > 0


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong_general"])
def test_a_seq2seq_run_reports_decoded_metrics(tmp_path, attention):
    overrides = [*QUICK, "data=reverse", f"model.attention={attention}"]
    metrics, _ = train(compose_config("train", overrides, tmp_path))
    assert {"test/acc", "test/exact_match", "test/bleu", "test/chrf"} <= set(metrics)
    assert 0 <= metrics["test/exact_match"] <= 1


def test_beam_search_in_test_and_a_decaying_teacher(tmp_path):
    overrides = [*QUICK, "data=dates", "task.beam_size=3", "model.cell=gru",
                 "task.teacher_forcing_schedule=linear"]  # fmt: skip
    metrics, _ = train(compose_config("train", overrides, tmp_path))
    assert metrics["test/acc"] > 0.1  # chance is about 1 in 15


def tiny_task(label_smoothing=0.0, **kwargs):
    """A tiny untrained task in evaluation mode, and a batch of phrasebook pairs."""
    from functools import partial

    from rnnlab.data.pairs import PairsDataModule
    from rnnlab.nets.seq2seq import Seq2Seq
    from rnnlab.tasks.seq2seq import Seq2SeqTask

    data = PairsDataModule(num_phrases=60, seed=0)
    spec = data.spec
    torch.manual_seed(0)
    net = Seq2Seq(len(spec.inputs.vocab), len(spec.target_vocab), hidden_size=8, embedding_dim=4)
    task = Seq2SeqTask(
        net, spec, partial(torch.optim.Adam), label_smoothing=label_smoothing, **kwargs
    )
    return task.eval(), data.datasets["train"][torch.arange(6)]


def test_label_smoothing_mixes_the_loss_with_the_mean_over_the_vocabulary():
    plain, batch = tiny_task(0.0)
    smoothed, _ = tiny_task(0.2)  # the same weights: one seed
    loss, logits = plain.compute_loss(batch)
    smooth_loss, _ = smoothed.compute_loss(batch)
    target = batch.y[:, : logits.shape[1]]
    real = target != 0
    log_p = logits.log_softmax(-1)[real]  # (N, V) at the real target tokens
    nll = -log_p.gather(1, target[real][:, None]).mean()
    uniform = -log_p.mean()  # the cross-entropy against an even spread over the vocabulary
    torch.testing.assert_close(loss, nll)
    torch.testing.assert_close(smooth_loss, 0.8 * nll + 0.2 * uniform)
    assert abs(float(smooth_loss - loss)) > 1e-3


def test_an_output_unk_earns_no_credit_for_a_reference_word_outside_the_vocabulary():
    task, batch = tiny_task()
    truth = task.references(batch.y)
    # An oracle that writes every reference exactly as encoded, <unk> included.
    task.decode = lambda source, lengths, beam_size=None: [list(t) for t in truth]
    _, logits = task.compute_loss(batch)
    task.update_metrics("val", logits, batch)
    assert task.metrics["val"]["exact_match"].compute() == 1.0
    assert task.metrics["val"]["bleu"].compute() == pytest.approx(1.0)
    for metric in task.metrics["val"].values():
        metric.reset()
    # The same references with one word outside the vocabulary: writing <unk> there matches
    # nothing, as it would not against the raw text.
    batch.y[0, 0] = Vocabulary.unk_index
    truth = task.references(batch.y)
    task.update_metrics("val", logits, batch)
    assert task.metrics["val"]["exact_match"].compute() == pytest.approx(5 / 6)
    assert task.metrics["val"]["bleu"].compute() < 1.0


def test_the_task_scores_exact_short_outputs_as_bleu_one(tmp_path):
    from functools import partial

    from rnnlab.data.pairs import PairsDataModule
    from rnnlab.nets.seq2seq import Seq2Seq
    from rnnlab.tasks.seq2seq import Seq2SeqTask

    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    path = tmp_path / "digits.tsv"
    path.write_text(
        "".join(f"{digits[i]} {digits[j]}\t{i} {j}\n" for i in range(10) for j in range(10)),
        encoding="utf-8",
    )
    data = PairsDataModule(str(path), seed=0)
    spec = data.spec
    net = Seq2Seq(len(spec.inputs.vocab), len(spec.target_vocab), hidden_size=8, embedding_dim=4)
    task = Seq2SeqTask(net, spec, partial(torch.optim.Adam))
    truth = task.references(data.datasets["val"][torch.arange(5)].y)
    texts = [task.to_text(t) for t in truth]  # two digits each: "4 7"
    assert all(len(text.split()) == 2 for text in texts)
    bleu_metric = task.metrics["val"]["bleu"]
    bleu_metric.update(texts, [[text] for text in texts])
    assert float(bleu_metric.compute()) == pytest.approx(1.0)


def test_the_test_beam_decodes_test_and_predictions_and_bad_values_are_refused():
    task, batch = tiny_task(beam_size=1, test_beam_size=3)
    assert task.test_beam == 3 and tiny_task()[0].test_beam == 1
    beams = task.net.beam_search(batch.x, batch.lengths, 3, task.max_target_length + 5)
    assert task.predict(batch) == beams
    assert task.decode(batch.x, batch.lengths) == task.net.greedy(
        batch.x, batch.lengths, task.max_target_length + 5
    )
    from rnnlab.utils.errors import ConfigError

    for bad, message in [
        ({"label_smoothing": 1.0}, "task.label_smoothing=1.0 must be in"),
        ({"test_beam_size": 0}, "task.test_beam_size=0 must be at least 1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            tiny_task(**bad)


def test_the_phrases_experiment_stops_early_on_validation_bleu(tmp_path):
    from hydra.utils import instantiate

    cfg = compose_config("train", ["experiment=phrases"], tmp_path)
    stopping = instantiate(cfg.callbacks.early_stopping)
    assert stopping.monitor == "val/bleu" and stopping.mode == "max" and stopping.patience >= 3
    assert cfg.callbacks.model_checkpoint.monitor == "val/bleu"
    assert cfg.trainer.max_epochs >= 50  # a cap: early stopping ends the run
    assert "model_checkpoint" in cfg.callbacks and "translation_samples" in cfg.callbacks
    assert cfg.task.label_smoothing > 0 and cfg.task.test_beam_size > 1

import pytest

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

"""What every task declares: the direction of its metrics."""

import pytest

from rnnlab.tasks import (
    ClassificationTask,
    ForecastingTask,
    LanguageModelTask,
    Seq2SeqTask,
    TaggingTask,
)


@pytest.mark.parametrize(
    "task, key, mode",
    [
        (ClassificationTask, "test/acc", "max"),
        (ClassificationTask, "val/acc_best", "max"),
        (ClassificationTask, "test/f1", "max"),
        (ClassificationTask, "val/loss_best", "min"),
        (ClassificationTask, "test/nearest_neighbour_acc", "max"),  # a baseline of the data
        (ClassificationTask, "test/tfidf_logreg_f1", "max"),
        (TaggingTask, "val/entity_f1_best", "max"),
        (TaggingTask, "test/most_frequent_tag_acc", "max"),
        (Seq2SeqTask, "test/bleu", "max"),
        (Seq2SeqTask, "test/exact_match", "max"),
        (ForecastingTask, "test/mase", "min"),
        (ForecastingTask, "test/naive_mse", "min"),
        (LanguageModelTask, "test/ppl", "min"),
        (LanguageModelTask, "test/acc", "min"),  # no accuracy here: only what a task declares
    ],
)
def test_each_task_says_which_way_its_metrics_are_better(task, key, mode):
    assert task.metric_mode(key) == mode

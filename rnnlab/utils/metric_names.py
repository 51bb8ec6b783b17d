"""Which way a metric is better, from its name alone; imported by start-up paths, so it imports
nothing heavy."""

import re

# Metric names (the part after the stage, as in `test/naive_acc` or `val/acc_best`) where
# higher is better; every other metric is ranked lowest first.
_HIGHER_IS_BETTER = re.compile(
    r"(^|_)(acc|accuracy|f1|bleu|chrf|exact_match|r2|auc|auroc|precision|recall)(_|$)"
)


def default_mode(metric: str) -> str:
    """``max`` for metrics where higher is better (accuracy, F1, BLEU, ...), else ``min``."""
    name = metric.rsplit("/", 1)[-1].removesuffix("_best")
    return "max" if _HIGHER_IS_BETTER.search(name) else "min"

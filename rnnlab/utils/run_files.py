"""The names of the files a finished run leaves in its directory; light enough for
``rnnlab.report``, which starts without importing Lightning."""

METRICS_FILE = "metrics.json"  # flat final metrics
MODES_FILE = "metric_modes.json"  # "min" or "max" for each metric, as the run's task declared it

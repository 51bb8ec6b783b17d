"""The names of the files a finished run leaves in its directory; light enough for
``rnnlab.report``, which starts without importing Lightning."""

METRICS_FILE = "metrics.json"  # flat final metrics
MODES_FILE = "metric_modes.json"  # "min" or "max" for each metric, as the run's task declared it
# In metrics.json, a metric that is not finite is null, and this key maps it to "nan", "inf"
# or "-inf" (``float`` reads them back): strict JSON, which every reader accepts.
NONFINITE_KEY = "nonfinite"

import pytest

pytest.importorskip("sktime")

from rnnlab.data.bundled import BundledSeriesDataModule, bundled_csv  # noqa: E402
from rnnlab.utils.errors import ConfigError  # noqa: E402


def test_airline_is_read_from_the_package_as_a_monthly_series(tmp_path):
    path = bundled_csv("airline", tmp_path)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["date,airline", "1949-01-01,112"] and len(lines) == 145
    dm = BundledSeriesDataModule("airline", window=12)
    spec = dm.spec
    assert spec.time_step == "1 month" and spec.season == 12
    assert dm.timestamps[-1] == "1960-12-01"


def test_seatbelts_brings_the_law_as_a_known_future_covariate():
    dm = BundledSeriesDataModule("seatbelts", window=12, horizon=3)
    spec = dm.spec
    assert spec.num_future_covariates == 1 and spec.inputs.features == 2
    batch = dm.datasets["test"][dm.datasets["test"].starts.new_tensor([0])]
    assert batch.future.shape == (1, 3, 1)
    without = BundledSeriesDataModule("seatbelts", covariates=False, window=12)
    assert without.spec.inputs.features == 1


def test_lynx_counts_years_and_unknown_names_are_refused():
    dm = BundledSeriesDataModule("lynx", window=20)
    assert dm.spec.season == 10 and dm.timestamps[0] == "1821"
    with pytest.raises(ConfigError, match="data.name='sunspots' is not one of"):
        BundledSeriesDataModule("sunspots")

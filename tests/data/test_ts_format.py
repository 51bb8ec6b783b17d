import numpy as np
import pytest

from rnnlab.data.ts_format import TsData, read_ts
from rnnlab.utils.errors import ConfigError

UNIVARIATE = """\
# A comment before the header.
@problemName Toy
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true b a
@data
1.0,2.0,3.0,4.0:a
5,6,7,8:b
-1.5,0,1e-3,2:a
"""

HEADER = """\
@problemName Toy
@timeStamps false
@univariate true
@classLabel true a b
@data
"""


def write(tmp_path, text: str, name: str = "toy.ts", newline: str = "\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_univariate_equal_length(tmp_path):
    data = read_ts(write(tmp_path, UNIVARIATE))
    assert isinstance(data, TsData)
    assert [s.shape for s in data.series] == [(4, 1)] * 3
    assert all(s.dtype == np.float32 for s in data.series)
    np.testing.assert_array_equal(data.series[0][:, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(data.series[2][:, 0], [-1.5, 0, 1e-3, 2])
    assert data.labels == ["a", "b", "a"]
    # Header order, not sorted order.
    assert data.class_labels == ["b", "a"]
    assert data.equal_length


def test_windows_line_endings_and_path_as_str(tmp_path):
    data = read_ts(str(write(tmp_path, UNIVARIATE, newline="\r\n")))
    assert data.labels == ["a", "b", "a"]
    np.testing.assert_array_equal(data.series[1][:, 0], [5, 6, 7, 8])


def test_multivariate(tmp_path):
    text = """\
@problemName Toy
@timeStamps false
@univariate false
@dimensions 3
@equalLength true
@seriesLength 2
@classLabel true walk run
@data
1,2:3,4:5,6:run
7,8:9,10:11,12:walk
"""
    data = read_ts(write(tmp_path, text))
    assert [s.shape for s in data.series] == [(2, 3), (2, 3)]
    np.testing.assert_array_equal(data.series[0], [[1, 3, 5], [2, 4, 6]])
    assert data.labels == ["run", "walk"]
    assert data.class_labels == ["walk", "run"]


def test_unequal_length_cases_and_dimensions(tmp_path):
    text = """\
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2
@data
1,2,3:4,5,6:1
1,2:3:2
"""
    data = read_ts(write(tmp_path, text))
    assert not data.equal_length
    assert [s.shape for s in data.series] == [(3, 2), (2, 2)]
    # The shorter dimension of the second case is padded with NaN to the longer one.
    np.testing.assert_array_equal(data.series[1], [[1, 3], [2, np.nan]])


def test_missing_values_become_nan(tmp_path):
    text = HEADER.replace("@univariate", "@missing true\n@univariate") + "1,?,3:a\n?,?,?:b\n"
    data = read_ts(write(tmp_path, text))
    np.testing.assert_array_equal(data.series[0][:, 0], [1, np.nan, 3])
    assert np.isnan(data.series[1]).all()


def test_comments_blank_lines_and_case_insensitive_headers(tmp_path):
    text = """\
# first comment

% an ARFF-style comment
@PROBLEMNAME Toy
@timestamps FALSE
@UniVariate true

@CLASSLABEL true a b
@DATA
# a comment among the cases

1,2:a

3,4:b

"""
    data = read_ts(write(tmp_path, text))
    assert data.labels == ["a", "b"]
    assert data.equal_length


def test_class_labels_default_to_sorted_unique_labels(tmp_path):
    text = "@problemName Toy\n@data\n1,2:z\n3,4:x\n5,6:z\n"
    data = read_ts(write(tmp_path, text))
    assert data.class_labels == ["x", "z"]


def test_class_label_false_means_no_label_field(tmp_path):
    text = "@univariate false\n@dimensions 2\n@classLabel false\n@data\n1,2:3,4\n"
    data = read_ts(write(tmp_path, text))
    assert data.series[0].shape == (2, 2)
    assert data.labels == [] and data.class_labels == []


def test_target_label_keeps_regression_targets(tmp_path):
    text = "@univariate true\n@targetLabel true\n@data\n1,2:0.5\n3,4:-2\n"
    data = read_ts(write(tmp_path, text))
    assert data.labels == ["0.5", "-2"]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="absent.ts"):
        read_ts(tmp_path / "absent.ts")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (HEADER.replace("@data\n", ""), None, "no @data"),
        (UNIVARIATE.replace("@data\n", ""), 9, "no @data"),
        (HEADER, None, "no cases"),
        (HEADER + "# only a comment\n\n", None, "no cases"),
        (HEADER + "1,2:a\n1,2:3,4:b\n", 7, "2 dimension(s)"),
        (HEADER.replace("@univariate true", "@dimensions 2") + "1,2:a\n", 6, "@dimensions"),
        ("@problemName Toy\n@data\n1:2:a\n1:b\n", 4, "line 3 gives 2"),
        (HEADER + "1,2:a\n1,x:b\n", 7, "'x'"),
        (HEADER + "1,,2:a\n", 6, "an empty value"),
        (HEADER + "1,2:c\n", 6, "label 'c'"),
        (HEADER + ":a\n", 6, "no values in dimension 1"),
        (HEADER.replace("false", "true"), None, "timestamps are not supported"),
        (HEADER.replace("@univariate true", "@univariate maybe"), 3, "true or false"),
        (HEADER.replace("@univariate true", "@colour red"), 3, "unknown header"),
        (UNIVARIATE + "1,2,3:a\n", None, "@equalLength true"),
        (UNIVARIATE.replace("@seriesLength 4", "@seriesLength 5"), None, "@seriesLength 5"),
    ],
    ids=[
        "no-data-section",
        "case-before-data-section",
        "no-cases",
        "only-comments-after-data",
        "dimensions-differ-between-cases",
        "dimensions-differ-from-header",
        "dimensions-differ-from-first-case",
        "non-numeric",
        "empty-value",
        "label-not-declared",
        "empty-series",
        "timestamps",
        "bad-boolean",
        "unknown-header",
        "unequal-length-declared-equal",
        "series-length-mismatch",
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text, name="broken.ts")
    with pytest.raises(ConfigError) as info:
        read_ts(path)
    message = str(info.value)
    assert str(path) in message
    if line is not None:
        assert f"line {line} " in message
    assert words in message

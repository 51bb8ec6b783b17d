"""A reader for the sktime/UEA ``.ts`` time-series classification format.

A ``.ts`` file holds ``#`` (or ``%``) comments, ``@`` header lines and, after ``@data``, one
case per line: dimensions separated by ``:``, values within a dimension by ``,``, the class
label last and ``?`` for a missing value. The format is specified at
https://www.sktime.net/en/stable/api_reference/file_specifications/ts.html.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.utils.errors import ConfigError

# "%" is the ARFF comment marker the format grew out of; sktime's own UnitTest files use it.
_COMMENT = ("#", "%")
# Header keywords, lower-cased; the format treats them case-insensitively.
_BOOL_HEADERS = ("timestamps", "missing", "univariate", "equallength", "targetlabel")
_HEADERS = (*_BOOL_HEADERS, "problemname", "dimensions", "serieslength", "classlabel", "data")


@dataclass
class TsData:
    """The cases of one ``.ts`` file.

    Attributes:
        series: one float32 array per case, ``(T_i, C)``: time steps by channels; missing
            values, and the tail of a dimension shorter than the case's longest, are NaN.
        labels: the label of each case as written in the file; empty when the file declares
            no labels (``@classLabel false`` without ``@targetLabel true``).
        class_labels: the ``@classLabel`` list in header order, else the sorted unique labels.
        equal_length: whether all cases have the same number of time steps.
        regression: whether the file declares ``@targetLabel true``: each case's label is a
            real-valued target, not a class.
    """

    series: list[np.ndarray]
    labels: list[str]
    class_labels: list[str]
    equal_length: bool
    regression: bool = False


@dataclass
class _Header:
    """What the ``@`` lines declare; ``None`` where a line is absent."""

    timestamps: bool | None = None
    univariate: bool | None = None
    dimensions: int | None = None
    equal_length: bool | None = None
    series_length: int | None = None
    has_class_labels: bool | None = None
    class_labels: list[str] | None = None
    target_label: bool | None = None


def read_ts(path: str | os.PathLike) -> TsData:
    """Parse a ``.ts`` file.

    Args:
        path: the ``.ts`` file.

    Returns:
        The cases, their labels and the declared class labels.

    Raises:
        ConfigError: if the file is missing, uses timestamps or is malformed; the message names
            the file and, for a bad line, its number.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; give the path of a .ts file.")
    # utf-8-sig drops a byte-order mark; text mode turns Windows line endings into "\n".
    try:
        with path.open(encoding="utf-8-sig") as file:
            lines = file.read().splitlines()
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); a .ts file is "
            "UTF-8 text."
        ) from None

    header = _Header()
    data_start = None
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith(_COMMENT):
            continue
        if not line.startswith("@"):
            raise ConfigError(
                f"{path} line {index + 1} is neither a comment (#, %) nor a header (@) and no "
                f"@data line precedes it; expected @data before the cases: {_clip(line)!r}."
            )
        if _parse_header(line, header, path, index + 1):
            data_start = index + 1
            break
    if data_start is None:
        raise ConfigError(f"{path} has no @data line; the cases must follow an @data line.")
    if header.timestamps:
        raise ConfigError(f"{path} declares @timeStamps true, but timestamps are not supported.")

    # Labels follow the dimensions unless the file says it has neither classes nor targets.
    has_labels = header.has_class_labels is not False or bool(header.target_label)
    n_dims = header.dimensions
    if n_dims is None and header.univariate:
        n_dims = 1
    dims_source = "@dimensions" if header.dimensions is not None else "@univariate true"
    allowed = set(header.class_labels) if header.class_labels is not None else None

    series: list[np.ndarray] = []
    labels: list[str] = []
    for index in range(data_start, len(lines)):
        line = lines[index].strip()
        if not line or line.startswith(_COMMENT):
            continue
        number = index + 1
        fields = line.split(":")
        if has_labels:
            if len(fields) < 2:
                raise ConfigError(
                    f"{path} line {number} has no ':' before a label; expected "
                    f"'<values>:...:<label>'."
                )
            label = fields.pop().strip()
            if allowed is not None and label not in allowed:
                raise ConfigError(
                    f"{path} line {number} has label {label!r}, which is not in @classLabel "
                    f"{header.class_labels}."
                )
            labels.append(label)
        if n_dims is None:
            # Without a declaration the first case fixes the number of dimensions.
            n_dims, dims_source = len(fields), f"line {number}"
        if len(fields) != n_dims:
            raise ConfigError(
                f"{path} line {number} has {len(fields)} dimension(s), but {dims_source} "
                f"gives {n_dims}."
            )
        series.append(_parse_case(fields, path, number))

    if not series:
        raise ConfigError(f"{path} has no cases after its @data line; expected at least one.")
    lengths = {len(case) for case in series}
    equal_length = len(lengths) == 1
    if header.equal_length and not equal_length:
        raise ConfigError(
            f"{path} declares @equalLength true, but its cases have lengths from {min(lengths)} "
            f"to {max(lengths)}."
        )
    if (
        header.equal_length
        and header.series_length is not None
        and lengths != {header.series_length}
    ):
        raise ConfigError(
            f"{path} declares @seriesLength {header.series_length}, but its cases have "
            f"{lengths.pop()} time steps."
        )
    class_labels = header.class_labels if header.class_labels is not None else sorted(set(labels))
    return TsData(series, labels, class_labels, equal_length, bool(header.target_label))


def _parse_header(line: str, header: _Header, path: Path, number: int) -> bool:
    """Record one ``@`` line in ``header``; return whether it is ``@data``."""
    keyword, *values = line[1:].split() or [""]
    key = keyword.lower()
    if key not in _HEADERS:
        raise ConfigError(
            f"{path} line {number} has unknown header @{keyword}; expected one of "
            f"@problemName, @timeStamps, @missing, @univariate, @dimensions, @equalLength, "
            f"@seriesLength, @classLabel, @targetLabel or @data."
        )
    if key == "data":
        if values:
            raise ConfigError(f"{path} line {number} has values after @data; expected none.")
        return True
    if key == "problemname":
        return False
    if key == "classlabel":
        flag = _parse_bool(values[:1], keyword, path, number)
        if flag and len(values) < 2:
            raise ConfigError(
                f"{path} line {number} has @{keyword} true without labels; expected "
                f"'@{keyword} true <label> <label> ...'."
            )
        if not flag and len(values) > 1:
            raise ConfigError(
                f"{path} line {number} lists labels after @{keyword} false; expected nothing."
            )
        header.has_class_labels = flag
        header.class_labels = values[1:] if flag else None
        return False
    if key in ("dimensions", "serieslength"):
        # isdecimal, not isdigit: int() refuses digits such as "²".
        if len(values) != 1 or not values[0].isdecimal() or int(values[0]) < 1:
            raise ConfigError(
                f"{path} line {number} has @{keyword} {' '.join(values)!r}; expected one "
                f"positive integer."
            )
        setattr(header, "dimensions" if key == "dimensions" else "series_length", int(values[0]))
        return False
    field = {"equallength": "equal_length", "targetlabel": "target_label"}.get(key, key)
    if key != "missing":
        setattr(header, field, _parse_bool(values, keyword, path, number))
    else:
        # Missing values are read wherever they appear, so the flag is only checked.
        _parse_bool(values, keyword, path, number)
    return False


def _parse_bool(values: list[str], keyword: str, path: Path, number: int) -> bool:
    """The ``true``/``false`` value of a header line."""
    if len(values) != 1 or values[0].lower() not in ("true", "false"):
        raise ConfigError(
            f"{path} line {number} has @{keyword} {' '.join(values)!r}; expected true or false."
        )
    return values[0].lower() == "true"


def _parse_case(fields: list[str], path: Path, number: int) -> np.ndarray:
    """One case's dimensions as ``(T, C)`` float32, shorter dimensions padded with NaN."""
    dims = []
    for channel, text in enumerate(fields):
        text = text.strip()
        if not text:
            raise ConfigError(
                f"{path} line {number} has no values in dimension {channel + 1}; expected "
                f"comma-separated numbers."
            )
        tokens = text.replace("?", "nan").split(",")
        try:
            dims.append(np.array(tokens, dtype=np.float32))
        except ValueError:
            bad = next(token for token in text.split(",") if not _is_number(token)).strip()
            what = repr(bad) if bad else "an empty value"
            raise ConfigError(
                f"{path} line {number} has {what} in dimension {channel + 1}; "
                f"expected a number or '?'."
            ) from None
        if np.isinf(dims[-1]).any():  # "inf", or a number beyond float32's range
            bad = tokens[int(np.isinf(dims[-1]).argmax())].strip()
            raise ConfigError(
                f"{path} line {number} has {_clip(bad)!r} in dimension {channel + 1}, which is "
                f"not a finite float32 number; expected a number within ±3.4e38 or '?'."
            )
    length = max(len(dim) for dim in dims)
    case = np.full((length, len(dims)), np.nan, dtype=np.float32)
    for channel, dim in enumerate(dims):
        case[: len(dim), channel] = dim
    return case


def _is_number(token: str) -> bool:
    """Whether ``token`` is a value ``read_ts`` accepts; only used to name a bad one."""
    if token.strip() == "?":
        return True
    try:
        float(token)
    except ValueError:
        return False
    return True


def _clip(text: str, width: int = 60) -> str:
    """``text`` shortened for an error message."""
    return text if len(text) <= width else text[: width - 3] + "..."

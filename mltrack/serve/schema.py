"""Request parsing and validation against an MLflow model signature.

The same code validates requests for the HTTP server and the AWS Lambda handler. It
accepts the pandas-style formats MLflow's scoring server accepts (records, split,
columns, and ``instances``/``inputs`` tensors) and checks every field against the
signature itself, so that a bad request gets a 422 naming the field instead of a model
traceback. Validated inputs are converted to the exact dtypes of the signature, which
lets the server skip MLflow's slower generic schema enforcement.
"""

from __future__ import annotations

import base64
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NUMBER_LIMITS",
    "SPLIT_KEYS",
    "ColumnSpec",
    "InputSpec",
    "RequestError",
    "TensorInput",
    "check_params",
    "parse_payload",
]

#: Top-level keys that select an input format; the MLflow names are accepted as aliases.
FORMAT_KEYS = {
    "records": "records",
    "dataframe_records": "records",
    "split": "split",
    "dataframe_split": "split",
    "columns": "columns",
    "instances": "instances",
    "inputs": "inputs",
}


#: Largest magnitude each numeric type holds; the OpenAPI document states the same bounds.
NUMBER_LIMITS: dict[str, tuple[float, float]] = {
    "float": (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)),
    "double": (-sys.float_info.max, sys.float_info.max),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
#: Keys of a ``split`` object (``index`` is pandas' and ignored).
SPLIT_KEYS = frozenset({"columns", "data", "index"})


class RequestError(Exception):
    """A request the model cannot score; ``status`` is the HTTP status to answer with.

    Attributes:
        status: 400 for unreadable JSON, 422 for input that does not match the signature.
        message: one line naming what is wrong and how to fix it.
        field: the offending field (column or tensor) when there is one.
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ColumnSpec:
    """One named column of a column-based signature."""

    name: str
    type: str  # boolean, integer, long, float, double, string, binary, datetime, any
    required: bool = True

    @property
    def dtype(self) -> Any:
        return _PANDAS_DTYPES.get(self.type, object)


@dataclass(frozen=True)
class TensorSpecLite:
    """One tensor of a tensor-based signature (dtype and shape, ``-1`` = any size)."""

    name: str | None
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


@dataclass
class TensorInput:
    """A parsed tensor request: one array, or a dict of named arrays."""

    value: np.ndarray[Any, Any] | dict[str, np.ndarray[Any, Any]]

    @property
    def rows(self) -> int:
        first = (
            self.value if isinstance(self.value, np.ndarray) else next(iter(self.value.values()))
        )
        return int(first.shape[0]) if first.ndim else 1


_PANDAS_DTYPES: dict[str, Any] = {
    "boolean": bool,
    "integer": np.int32,
    "long": np.int64,
    "float": np.float32,
    "double": np.float64,
    "string": object,
    "binary": object,
    "datetime": "datetime64[ns]",
}

_JSON_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _describe(value: Any) -> str:
    if isinstance(value, list | dict):  # no repr: a deeply nested body would recurse
        return "[...]" if isinstance(value, list) else "{...}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class InputSpec:
    """What a model accepts, derived from its MLflow signature.

    ``columns`` is set for column-based signatures, ``tensors`` for tensor-based ones;
    both are empty when the model has no signature (then any records are passed through).
    """

    columns: list[ColumnSpec] = field(default_factory=list)
    tensors: list[TensorSpecLite] = field(default_factory=list)

    @classmethod
    def from_signature(cls, schema: Any) -> InputSpec:
        """Build from an ``mlflow.types.Schema`` (or ``None``)."""
        if schema is None:
            return cls()
        if schema.is_tensor_spec():
            tensors = [
                TensorSpecLite(name=spec.name, dtype=np.dtype(spec.type), shape=tuple(spec.shape))
                for spec in schema.inputs
            ]
            return cls(tensors=tensors)
        columns = []
        for index, spec in enumerate(schema.inputs):
            kind = getattr(spec.type, "name", None)
            type_name = kind if kind in _PANDAS_DTYPES else "any"
            columns.append(ColumnSpec(spec.name or str(index), type_name, bool(spec.required)))
        return cls(columns=columns)

    @property
    def kind(self) -> str:
        """``columns``, ``tensor`` or ``any``."""
        if self.columns:
            return "columns"
        return "tensor" if self.tensors else "any"

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


# --------------------------------------------------------------------------- values


def _check_value(column: ColumnSpec, value: Any, row: int) -> Any:
    """Return ``value`` converted for ``column`` or raise a 422 naming the field."""
    kind = column.type
    if value is None:
        if column.required:
            raise RequestError(
                422,
                f"field '{column.name}' (row {row}) is required, got null; the model's "
                "signature allows no missing value there: send a value",
                column.name,
            )
        return None if kind not in ("float", "double") else math.nan
    ok = True
    if kind in ("float", "double", "integer", "long"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = _check_number(column, value, row)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("string", "datetime"):
        ok = isinstance(value, str)
    elif kind == "binary":
        ok = isinstance(value, str)
        if ok:
            try:
                value = base64.b64decode(value, validate=True)
            except ValueError:
                raise RequestError(
                    422,
                    f"field '{column.name}' (row {row}): expected base64-encoded bytes",
                    column.name,
                ) from None
    if not ok:
        expected = {
            "float": "number",
            "double": "number",
            "integer": "integer",
            "long": "integer",
        }.get(kind, kind)
        raise RequestError(
            422,
            f"field '{column.name}' (row {row}): expected {expected} ({kind}), "
            f"got {_json_type_name(value)} {_describe(value)}",
            column.name,
        )
    return value


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity (or a number too large for a double)" if value > 0 else "-Infinity"


def _check_number(column: ColumnSpec, value: int | float, row: int) -> int | float:
    """A finite number within the column type's range (integers: a whole number)."""
    where = f"field '{column.name}' (row {row})"
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(
            422,
            f"{where}: expected a finite number, got {_non_finite(value)}; send null for "
            "a missing value of an optional field",
            column.name,
        )
    kind = column.type
    low, high = NUMBER_LIMITS[kind]
    given = value
    if kind in ("integer", "long"):
        if isinstance(value, float):
            if not value.is_integer():
                raise RequestError(
                    422,
                    f"{where}: expected integer ({kind}), got number {_describe(value)}",
                    column.name,
                )
            value = int(value)
    elif isinstance(value, int) and not low <= value <= high:
        value = math.inf  # an integer too large for a double: reported as out of range below
    if not low <= value <= high:
        raise RequestError(
            422,
            f"{where}: {_describe(given)} is out of range for {kind} ({low:g} to {high:g})",
            column.name,
        )
    return value


def _unknown(spec: InputSpec, names: Any) -> None:
    known = set(spec.names)
    extra = [name for name in names if name not in known]
    if extra:
        raise RequestError(
            422,
            f"unknown field '{extra[0]}'; the model expects: {', '.join(spec.names)}",
            str(extra[0]),
        )


def _frame_from_columns(spec: InputSpec, data: dict[str, list[Any]], rows: int) -> pd.DataFrame:
    """Validate column lists and build a DataFrame with the signature's dtypes."""
    frame: dict[str, Any] = {}
    for column in spec.columns:
        values = data.get(column.name)
        if values is None:
            if column.required:
                raise RequestError(
                    422,
                    f"missing required field '{column.name}'; the model expects: {', '.join(spec.names)}",
                    column.name,
                )
            continue
        checked = [_check_value(column, value, row) for row, value in enumerate(values)]
        frame[column.name] = _to_series(column, checked)
    return pd.DataFrame(frame, index=range(rows), columns=[c for c in spec.names if c in frame])


def _to_series(column: ColumnSpec, values: list[Any]) -> Any:
    if column.type == "datetime":
        try:
            return pd.to_datetime(values)
        except (ValueError, TypeError):
            raise RequestError(
                422, f"field '{column.name}': expected ISO 8601 date-time strings", column.name
            ) from None
    if column.type in ("string", "binary", "any") or (None in values and column.type != "double"):
        return values
    return np.asarray(values, dtype=column.dtype)


def _records(spec: InputSpec, records: Any) -> pd.DataFrame:
    if isinstance(records, dict) and not spec.columns:
        records = [records]
    if not isinstance(records, list):
        raise RequestError(
            422, f"'records' must be a list of objects, got {_json_type_name(records)}"
        )
    if not records:
        raise RequestError(422, "no rows to score: send at least one record")
    if not spec.columns:
        return pd.DataFrame.from_records(records)
    columns: dict[str, list[Any]] = {name: [] for name in spec.names}
    known = columns.keys()
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(
                422,
                f"record {row} must be an object of field: value, got {_json_type_name(record)}",
            )
        if record.keys() - known:
            _unknown(spec, record)
        for column in spec.columns:
            if column.name in record:
                columns[column.name].append(record[column.name])
            elif column.required:
                raise RequestError(
                    422,
                    f"missing required field '{column.name}' in record {row}; "
                    f"the model expects: {', '.join(spec.names)}",
                    column.name,
                )
            else:
                columns[column.name].append(None)
    return _frame_from_columns(spec, columns, len(records))


def _split(spec: InputSpec, split: Any) -> pd.DataFrame:
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("data"), list)
        or not isinstance(split.get("columns"), list)
    ):
        raise RequestError(
            422,
            "'split' must be an object with 'columns' (field names) and 'data' (a list of rows)",
        )
    extra = [key for key in split if key not in SPLIT_KEYS]
    if extra:
        raise RequestError(
            422, f"unknown key '{extra[0]}' in 'split'; it takes 'columns', 'data' and 'index'"
        )
    if not isinstance(split.get("index", []), list):
        raise RequestError(422, "'split.index' must be a list of row labels")
    names = split["columns"]
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise RequestError(422, "'split.columns' must be a list of distinct field names")
    rows = split["data"]
    if not rows:
        raise RequestError(422, "no rows to score: 'split.data' is empty")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise RequestError(
                422,
                f"'split.data' row {index} must be a list of {len(names)} values, one per column",
            )
    if not spec.columns:
        return pd.DataFrame(rows, columns=names)
    _unknown(spec, names)
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return _frame_from_columns(spec, data, len(rows))


def _columns(spec: InputSpec, columns: Any) -> pd.DataFrame:
    if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
        raise RequestError(
            422, "'columns' must be an object mapping each field to a list of values"
        )
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise RequestError(422, "every list in 'columns' must have the same length")
    rows = lengths.pop() if lengths else 0
    if rows == 0:
        raise RequestError(422, "no rows to score: the 'columns' lists are empty")
    if not spec.columns:
        return pd.DataFrame(columns)
    _unknown(spec, columns)
    return _frame_from_columns(spec, columns, rows)


#: JSON value types a tensor of each numpy kind takes (integers: also whole floats, as JSON).
_TENSOR_LEAVES: dict[str, frozenset[type]] = {
    "f": frozenset({int, float}),
    "i": frozenset({int, float}),
    "u": frozenset({int, float}),
    "b": frozenset({bool}),
}


def _shape_text(spec: TensorSpecLite) -> tuple[int | str, ...]:
    return tuple("n" if s == -1 else s for s in spec.shape)


def _tensor(spec: TensorSpecLite, value: Any, label: str) -> np.ndarray[Any, Any]:
    """Validate one tensor: regular nesting, the signature's shape, leaf types and range."""
    shape = _shape_text(spec)
    try:
        raw = np.asarray(value, dtype=object)  # shape only: leaves are checked below
    except ValueError:  # ragged, or nested deeper than numpy's 64 dimensions
        raw = None
    if raw is None or len(raw.shape) != len(spec.shape):
        got = "irregular nested lists" if raw is None else f"{len(raw.shape)} dimension(s)"
        raise RequestError(
            422, f"tensor '{label}': expected nested lists of shape {shape}, got {got}", label
        )
    if any(want not in (-1, got) for want, got in zip(spec.shape, raw.shape, strict=True)):
        raise RequestError(
            422, f"tensor '{label}': expected shape {shape}, got {tuple(raw.shape)}", label
        )
    if raw.size == 0:
        raise RequestError(422, f"tensor '{label}': no values to score", label)
    leaves = raw.ravel().tolist()
    allowed = _TENSOR_LEAVES.get(spec.dtype.kind)
    per_row = max(1, raw.size // max(1, raw.shape[0])) if raw.ndim else 1
    if allowed is not None:
        kinds = set(map(type, leaves))
        integral = spec.dtype.kind in "iu"
        if not kinds <= allowed or (
            integral
            and float in kinds
            and not all(v.is_integer() for v in leaves if type(v) is float)
        ):
            index, bad = next(
                (i, v)
                for i, v in enumerate(leaves)
                if type(v) not in allowed or (integral and type(v) is float and not v.is_integer())
            )
            raise RequestError(
                422,
                f"tensor '{label}' (row {index // per_row}): expected {spec.dtype} values, "
                f"got {_json_type_name(bad)} {_describe(bad)}",
                label,
            )
    out_of_range = (
        f"tensor '{label}' (row {{row}}): expected finite numbers within the range of "
        f"{spec.dtype}, got NaN, Infinity or a number out of range"
    )
    if spec.dtype.kind == "f":
        limit = NUMBER_LIMITS["float" if spec.dtype.itemsize <= 4 else "double"][1]
        for index, leaf in enumerate(leaves):  # exact for integers past a double's precision
            if type(leaf) is int and not -limit <= leaf <= limit:
                raise RequestError(422, out_of_range.format(row=index // per_row), label)
        wide = np.asarray(leaves, dtype=np.float64)
        bad = ~(np.abs(wide) <= limit)  # NaN compares false: bad too
        if bad.any():
            row = int(np.argmax(bad)) // per_row
            raise RequestError(422, out_of_range.format(row=row), label)
        return wide.astype(spec.dtype).reshape(raw.shape)
    try:
        return np.asarray(leaves, dtype=spec.dtype).reshape(raw.shape)
    except (OverflowError, ValueError, TypeError):
        raise RequestError(
            422, f"tensor '{label}': a value is out of range for {spec.dtype}", label
        ) from None


def _tensors(spec: InputSpec, value: Any) -> TensorInput:
    if len(spec.tensors) == 1 and spec.tensors[0].name is None:
        return TensorInput(_tensor(spec.tensors[0], value, "inputs"))
    if len(spec.tensors) == 1 and not isinstance(value, dict):
        only = spec.tensors[0]
        return TensorInput({str(only.name): _tensor(only, value, str(only.name))})
    names = [str(t.name) for t in spec.tensors]
    if not isinstance(value, dict):
        raise RequestError(
            422,
            f"this model takes named tensors ({', '.join(names)}): send an object of name: array",
        )
    extra = [key for key in value if key not in names]
    if extra:
        raise RequestError(
            422, f"unknown tensor '{extra[0]}'; the model takes: {', '.join(names)}", extra[0]
        )
    arrays = {}
    for tensor, name in zip(spec.tensors, names, strict=True):
        if name not in value:
            raise RequestError(422, f"missing tensor '{name}'", name)
        arrays[name] = _tensor(tensor, value[name], name)
    return TensorInput(arrays)


def parse_payload(
    spec: InputSpec, payload: Any
) -> tuple[pd.DataFrame | TensorInput, dict[str, Any] | None]:
    """Turn a decoded JSON body into model input, validated against ``spec``.

    Accepted bodies: a list of records; ``{"records": [...]}`` (alias
    ``dataframe_records``); ``{"split": {"columns": [...], "data": [[...]]}}`` (alias
    ``dataframe_split``); ``{"columns": {"field": [...]}}``; ``{"instances": ...}`` or
    ``{"inputs": ...}`` for tensors (for column models they hold records or columns);
    or a single record object. An optional ``"params"`` object is passed to the model;
    no other key may stand next to the input format. Numbers must be finite and within
    the range of the field's type (:data:`NUMBER_LIMITS`); ``null`` is taken only for an
    optional field. The OpenAPI document (:mod:`mltrack.serve.openapi`) states the same.

    Returns:
        The model input and the params (or ``None``).

    Raises:
        RequestError: 422 naming the field when the body does not fit the signature.
    """
    if isinstance(payload, list):
        return _by_format(spec, "records", payload), None
    if not isinstance(payload, dict):
        raise RequestError(
            422, f"expected a JSON object or a list of records, got {_json_type_name(payload)}"
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError(422, "'params' must be an object", "params")
    keys = [key for key in payload if key in FORMAT_KEYS]
    if len(keys) > 1:
        raise RequestError(422, f"send exactly one input format, got {', '.join(keys)}")
    if keys:
        extra = [key for key in payload if key not in (keys[0], "params")]
        if extra:
            raise RequestError(
                422,
                f"unknown key '{extra[0]}' next to '{keys[0]}'; send one input format "
                "and optionally 'params'",
                str(extra[0]),
            )
        return _by_format(spec, FORMAT_KEYS[keys[0]], payload[keys[0]]), params
    if spec.kind == "columns" and payload:
        return _records(spec, [payload]), None  # one record: every key is a field
    if spec.kind == "any":
        record = {k: v for k, v in payload.items() if k != "params"}
        if record:
            return _records(spec, [record]), params
    raise RequestError(
        422,
        'no input found: send {"records": [...]}, {"split": ...}, {"columns": ...} '
        'or {"instances": ...}',
    )


def _by_format(spec: InputSpec, fmt: str, value: Any) -> pd.DataFrame | TensorInput:
    if spec.kind == "tensor":
        if fmt not in ("instances", "inputs"):
            raise RequestError(422, 'this model takes tensors: send {"instances": [[...], ...]}')
        return _tensors(spec, value)
    if fmt in ("instances", "inputs"):
        if (
            spec.kind == "any"
            and isinstance(value, list)
            and value
            and not isinstance(value[0], dict)
        ):
            return TensorInput(np.asarray(value))  # an array model without a signature
        # MLflow compatibility: instances are records, inputs may be columns.
        fmt = "columns" if isinstance(value, dict) else "records"
    if fmt == "records":
        return _records(spec, value)
    if fmt == "split":
        return _split(spec, value)
    return _columns(spec, value)


def check_params(schema: Any, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a request's ``params`` against the model's MLflow ``ParamSchema``.

    MLflow would ignore params a model does not declare (with a log line the client never
    sees) and raise inside ``predict`` for a value of the wrong type, which a server would
    answer with a 500; here both are the client's 422 naming the param.

    Args:
        schema: ``model.metadata.get_params_schema()`` (``None``: the model takes none).
        params: the request's ``params`` object, or ``None``.

    Returns:
        The params converted to the declared types, or ``None`` when none were sent.

    Raises:
        RequestError: 422 naming the param that is unknown or of the wrong type.
    """
    if not params:
        return None
    if schema is None:
        raise RequestError(
            422, f"this model takes no params; remove 'params' (got {', '.join(params)})", "params"
        )
    from mlflow.exceptions import MlflowException
    from mlflow.types.schema import ParamSpec

    specs = {spec.name: spec for spec in schema.params}
    checked: dict[str, Any] = {}
    for name, value in params.items():
        spec = specs.get(name)
        if spec is None:
            raise RequestError(
                422, f"unknown param '{name}'; this model takes: {', '.join(specs)}", "params"
            )
        try:
            checked[name] = ParamSpec.validate_param_spec(value, spec)
        except MlflowException as exc:
            raise RequestError(422, f"param '{name}': {exc.message}", "params") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise RequestError(422, f"param '{name}': {exc}", "params") from None
    return checked

"""OpenAPI request/response schemas generated from the model signature.

The request schemas are written from the signature so that ``/docs`` shows the model's
real field names, types, ranges and required flags, as named components (``Record``,
``RecordsRequest``, ``PredictRequest``...); they say what :mod:`mltrack.serve.schema`
accepts, which a test checks with schemathesis. Validation itself is done there (faster,
and its errors name the row and field).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import models_json_schema

from mltrack.serve.schema import NUMBER_LIMITS, ColumnSpec, InputSpec, TensorSpecLite

__all__ = ["ErrorResponse", "request_examples", "schema_components"]

_PY_TYPES: dict[str, Any] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "binary": bytes,
    "datetime": dt.datetime,
    "any": Any,
}
_REF = "#/components/schemas/{model}"
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class ErrorResponse(BaseModel):
    """Every error answer: what is wrong, the field when there is one, and the request id."""

    error: str = Field(description="One line naming what is wrong and how to fix it.")
    field: str | None = Field(None, description="The offending input field, for 422 answers.")
    request_id: str = Field(description="Also sent as the `X-Request-ID` header and logged.")


def _output_item(output_schema: Any) -> Any:
    if output_schema is None:
        return Any
    try:
        if output_schema.is_tensor_spec():
            return Any
        specs = output_schema.inputs
    except AttributeError:
        return Any
    if len(specs) == 1:
        return _PY_TYPES.get(getattr(specs[0].type, "name", "any"), Any)
    return dict[str, Any]


def _value_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of one value of MLflow type ``kind``: the bounds the server enforces."""
    if kind in NUMBER_LIMITS:
        low, high = NUMBER_LIMITS[kind]
        number = "integer" if kind in ("integer", "long") else "number"
        return {"type": number, "minimum": low, "maximum": high}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "string":
        return {"type": "string"}
    if kind == "datetime":
        return {"type": "string", "format": "date-time"}
    if kind == "binary":
        return {"type": "string", "contentEncoding": "base64", "pattern": _BASE64}
    return {}


def _column_schema(column: ColumnSpec) -> dict[str, Any]:
    value = _value_schema(column.type)
    desc = f"MLflow type `{column.type}`"
    if column.required:
        return {**value, "description": desc}
    return {"anyOf": [value, {"type": "null"}], "description": desc + " (optional: may be null)"}


def _tensor_schema(tensor: TensorSpecLite) -> dict[str, Any]:
    """Nested arrays of the tensor's shape (``-1``: any size from 1) and dtype."""
    kind = {"f": "double", "i": "long", "u": "long", "b": "boolean"}.get(tensor.dtype.kind)
    if tensor.dtype == np.float32:
        kind = "float"
    node: dict[str, Any] = _value_schema(kind or "any")
    for size in reversed(tensor.shape):
        bounds = {"minItems": 1} if size == -1 else {"minItems": size, "maxItems": size}
        node = {"type": "array", "items": node, **bounds}
    return node


def _shapes(spec: InputSpec) -> str:
    return ", ".join(
        f"{t.name or 'inputs'}: {t.dtype} {tuple('n' if s == -1 else s for s in t.shape)}"
        for t in spec.tensors
    )


def _obj(properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {**schema, "additionalProperties": False, **extra}


def _input_components(spec: InputSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Named schemas of the input formats, and what each format key holds."""
    if spec.kind == "tensor":
        tensors = {str(t.name): _tensor_schema(t) for t in spec.tensors}
        if len(spec.tensors) == 1 and spec.tensors[0].name is None:
            value = _tensor_schema(spec.tensors[0])
        else:
            value = _obj(tensors, list(tensors))
            if len(spec.tensors) == 1:
                value = {"anyOf": [next(iter(tensors.values())), value]}
        tensor = {**value, "title": "Tensor", "description": f"Nested lists ({_shapes(spec)})."}
        ref = {"$ref": _REF.format(model="Tensor")}
        return {"Tensor": tensor}, {"instances": ref, "inputs": ref}
    if spec.columns:
        record = _obj(
            {c.name: _column_schema(c) for c in spec.columns},
            [c.name for c in spec.columns if c.required],
            title="Record",
            description="One input row; fields and types come from the model signature.",
        )
        lists = {
            c.name: {"type": "array", "items": _column_schema(c), "minItems": 1}
            for c in spec.columns
        }
        columns = _obj(
            lists,
            [c.name for c in spec.columns if c.required],
            minProperties=1,
            title="Columns",
            description="One list of values per field; all lists have the same length.",
        )
        width = len(spec.columns)
        row = {
            "type": "array",
            "prefixItems": [_column_schema(c) for c in spec.columns],
            "minItems": width,
            "maxItems": width,
        }
        names = {
            "type": "array",
            "prefixItems": [{"const": c.name} for c in spec.columns],
            "minItems": width,
            "maxItems": width,
            "description": "Field names, in the order of each row in `data` (any order of "
            "the signature's fields is accepted; optional ones may be left out).",
        }
    else:  # no signature: any fields
        record = {"type": "object", "title": "Record", "description": "One input row."}
        columns = {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 1},
            "minProperties": 1,
            "title": "Columns",
            "description": "One list of values per field; all lists have the same length.",
        }
        row = {"type": "array"}
        names = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    split = _obj(
        {
            "columns": names,
            "data": {"type": "array", "items": row, "minItems": 1, "description": "Rows."},
            "index": {"type": "array", "description": "pandas' row labels (ignored)."},
        },
        ["columns", "data"],
        title="SplitFrame",
        description="pandas `split` orient: field names and rows of values.",
    )
    records = {
        "type": "array",
        "items": {"$ref": _REF.format(model="Record")},
        "minItems": 1,
        "title": "Records",
        "description": "A list of rows.",
    }
    refs = {name: {"$ref": _REF.format(model=name)} for name in ("Records", "Columns")}
    either = {"anyOf": [refs["Records"], refs["Columns"]]}
    components = {"Record": record, "Records": records, "Columns": columns, "SplitFrame": split}
    split_ref = {"$ref": _REF.format(model="SplitFrame")}
    keys = {
        "records": refs["Records"],
        "split": split_ref,
        "columns": refs["Columns"],
        "dataframe_records": refs["Records"],
        "dataframe_split": split_ref,
        "instances": either,
        "inputs": either,
    }
    return components, keys


#: Request variant names, in the order /docs lists them; the rest are MLflow's key names.
_TITLES = {
    "records": "RecordsRequest",
    "split": "SplitRequest",
    "columns": "ColumnsRequest",
    "instances": "InstancesRequest",
    "inputs": "InputsRequest",
    "dataframe_records": "DataframeRecordsRequest",
    "dataframe_split": "DataframeSplitRequest",
}


def _params_schema(params_schema: Any) -> dict[str, Any]:
    """The ``params`` object :func:`mltrack.serve.schema.check_params` accepts."""
    if params_schema is None:
        return {
            "anyOf": [{"type": "object", "maxProperties": 0}, {"type": "null"}],
            "description": "This model takes no inference params.",
        }
    properties: dict[str, Any] = {}
    for spec in params_schema.params:
        kind = getattr(spec.dtype, "name", "any")  # an Object dtype has no MLflow name
        # datetimes go through numpy's parser, not RFC 3339: any string may be tried
        value = {"type": "string"} if kind == "datetime" else _value_schema(kind)
        if spec.shape == (-1,):
            value = {"type": "array", "items": value}
        properties[spec.name] = {
            "anyOf": [value, {"type": "null"}],
            "default": _json_default(spec.default),
            "description": f"MLflow type `{spec.dtype}`",
        }
    return {
        "anyOf": [
            {"type": "object", "properties": properties, "additionalProperties": False},
            {"type": "null"},
        ],
        "description": "Inference params; a param left out takes its default.",
    }


def _json_default(value: Any) -> Any:
    """A param default as JSON (datetimes as ISO strings, numpy scalars as numbers)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def schema_components(
    spec: InputSpec, output_schema: Any, params_schema: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Components for the OpenAPI document and the ``PredictRequest`` body schema.

    The request schemas are exactly what :func:`mltrack.serve.schema.parse_payload`
    accepts, as far as JSON Schema can say it (it cannot say that the lists of a
    ``columns`` body, or ``split.columns`` and each row, have the same length).

    Args:
        spec: the input signature.
        output_schema: the output signature (or ``None``).
        params_schema: the model's ``ParamSchema`` (``None``: it takes no params).

    Returns:
        ``(components, request_body_schema)``: named schemas to merge into
        ``components.schemas`` and the schema of the ``/predict`` request body.
    """
    predictions: Any = (list[_output_item(output_schema)], ...)  # type: ignore[misc]
    response = create_model(
        "PredictResponse",
        __doc__="Predictions, one per input row, in input order.",
        predictions=predictions,
    )
    models: list[Any] = [response, ErrorResponse]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    components: dict[str, Any] = dict(top.get("$defs", {}))
    inputs, keys = _input_components(spec)
    components.update(inputs)
    params = _params_schema(params_schema)
    variants: list[dict[str, Any]] = []
    for key, value in keys.items():
        title = _TITLES[key]
        doc = "MLflow's name for the same format." if key.startswith("dataframe") else ""
        components[title] = _obj(
            {key: value, "params": params},
            [key],
            title=title,
            **({"description": doc} if doc else {}),
        )
        variants.append({"$ref": _REF.format(model=title)})
    if spec.kind != "tensor":
        variants.append({**components["Records"], "title": "Bare list of records"})
        single: dict[str, Any] = {"$ref": _REF.format(model="Record")}
        if spec.columns and not any(c.required for c in spec.columns):
            single = {"allOf": [single], "minProperties": 1, "title": "A single record"}
        variants.append(single)
    components["PredictRequest"] = {"title": "PredictRequest", "anyOf": variants}
    return components, {"$ref": _REF.format(model="PredictRequest")}


def request_examples(spec: InputSpec, example: Any) -> dict[str, Any]:
    """Named OpenAPI examples, one per input format, from the model's input example."""
    if not isinstance(example, dict):
        return {}
    records = example.get("records")
    if not (isinstance(records, list) and records and isinstance(records[0], dict)):
        return {"example": {"summary": "The model's input example", "value": example}}
    names = list(records[0])
    one = {"records": records[:1]}
    return {
        "records": {"summary": "Records (one row)", "value": one},
        "split": {
            "summary": "pandas split",
            "value": {
                "split": {"columns": names, "data": [[r.get(n) for n in names] for r in records]}
            },
        },
        "columns": {
            "summary": "Columnar",
            "value": {"columns": {n: [r.get(n) for r in records] for n in names}},
        },
    }

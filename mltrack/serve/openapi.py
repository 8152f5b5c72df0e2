"""OpenAPI request/response schemas generated from the model signature.

The schemas are built as pydantic models so that ``/docs`` shows the model's real field
names, types and required flags, and they are registered as named components
(``Record``, ``PredictRequest``, ``PredictResponse``...). Validation itself is done by
:mod:`mltrack.serve.schema` (faster, and its errors name the row and field).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from mltrack.serve.schema import InputSpec

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


class ErrorResponse(BaseModel):
    """Every error answer: what is wrong, the field when there is one, and the request id."""

    error: str = Field(description="One line naming what is wrong and how to fix it.")
    field: str | None = Field(None, description="The offending input field, for 422 answers.")
    request_id: str = Field(description="Also sent as the `X-Request-ID` header and logged.")


class SplitFrame(BaseModel):
    columns: list[str] = Field(description="Field names, in the order of each row in `data`.")
    data: list[list[Any]] = Field(description="Rows of values.")


def _record_model(spec: InputSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column in spec.columns:
        py = _PY_TYPES[column.type]
        desc = f"MLflow type `{column.type}`" + ("" if column.required else " (optional)")
        if column.required:
            fields[column.name] = (py, Field(..., description=desc))
        else:
            fields[column.name] = (py | None, Field(None, description=desc))
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One input row; fields and types come from the model signature.",
        **fields,
    )


def _columns_model(spec: InputSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column in spec.columns:
        py: Any = list.__class_getitem__(_PY_TYPES[column.type])
        fields[column.name] = (py, ... if column.required else None)
    return create_model(
        "Columns",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One list of values per field, all of the same length.",
        **fields,
    )


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


def _request_models(spec: InputSpec) -> list[type[BaseModel]]:
    params: Any = (
        dict[str, Any] | None,
        Field(None, description="Inference params, when the model takes any."),
    )
    if spec.kind == "tensor":
        shapes = ", ".join(
            f"{t.name or 'inputs'}: {t.dtype} {tuple('n' if s == -1 else s for s in t.shape)}"
            for t in spec.tensors
        )
        tensor = create_model(
            "TensorRequest",
            __doc__=f"Raw tensors ({shapes}).",
            instances=(Any, Field(..., description=f"Nested lists of numbers; expected {shapes}.")),
            params=params,
        )
        return [tensor]
    record: Any = _record_model(spec) if spec.columns else dict[str, Any]
    columns: Any = _columns_model(spec) if spec.columns else dict[str, list[Any]]
    return [
        create_model(
            "RecordsRequest",
            __doc__="A list of rows (alias key: `dataframe_records`).",
            records=(list[record], Field(..., min_length=1)),
            params=params,
        ),
        create_model(
            "SplitRequest",
            __doc__="pandas `split` orient (alias key: `dataframe_split`).",
            split=(SplitFrame, ...),
            params=params,
        ),
        create_model(
            "ColumnsRequest",
            __doc__="Columnar: one list per field.",
            columns=(columns, ...),
            params=params,
        ),
    ]


def schema_components(spec: InputSpec, output_schema: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Components for the OpenAPI document and the ``PredictRequest`` body schema.

    Returns:
        ``(components, request_body_schema)``: named schemas to merge into
        ``components.schemas`` and the schema of the ``/predict`` request body.
    """
    request_models = _request_models(spec)
    predictions: Any = (list[_output_item(output_schema)], ...)  # type: ignore[misc]
    response = create_model(
        "PredictResponse",
        __doc__="Predictions, one per input row, in input order.",
        predictions=predictions,
    )
    models: list[Any] = [*request_models, response, ErrorResponse]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    components: dict[str, Any] = dict(top.get("$defs", {}))
    variants: list[dict[str, Any]] = [
        {"$ref": _REF.format(model=m.__name__)} for m in request_models
    ]
    if spec.kind != "tensor":
        item = {"$ref": _REF.format(model="Record")} if spec.columns else {"type": "object"}
        variants.append({"type": "array", "items": item, "title": "Bare list of records"})
    request: dict[str, Any] = {"title": "PredictRequest", "anyOf": variants}
    components["PredictRequest"] = request
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

"""Transport-independent prediction: bytes in, JSON-ready dict out.

Both the HTTP server (:mod:`mltrack.serve.app`) and the AWS Lambda handler
(:mod:`mltrack.serve.lambda_handler`) use :class:`Predictor`, so a request is decoded,
validated and scored the same way everywhere.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from mltrack.serve.model import LoadedModel, to_jsonable
from mltrack.serve.schema import RequestError, TensorInput, check_params, parse_payload

__all__ = ["ModelFailure", "Predictor", "decode_json", "new_request_id"]

log = logging.getLogger("mltrack.serve")


class ModelFailure(Exception):
    """The model raised while scoring valid input (answered with 500 and a request id)."""


def new_request_id() -> str:
    """A short random id that ties a client's error to the server log line."""
    return secrets.token_hex(8)


def decode_json(body: bytes) -> Any:
    """Decode a request body, or raise a 400 :class:`RequestError` saying where it broke."""
    if not body.strip():
        raise RequestError(400, 'empty request body: send a JSON object such as {"records": [...]}')
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:  # the decoder recurses once per level of [ or {
        raise RequestError(
            400,
            "JSON nested too deeply: no input format needs more than a few levels of [ and {",
        ) from None


class Predictor:
    """Decode, validate and score requests for one loaded model.

    Args:
        model: the loaded model.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def parse(self, body: bytes) -> tuple[Any, dict[str, Any] | None, int]:
        """Decode and validate a body; return (model input, params, rows)."""
        data, params = parse_payload(self.model.spec, decode_json(body))
        params = check_params(self.model.pyfunc.metadata.get_params_schema(), params)
        rows = data.rows if isinstance(data, TensorInput) else len(data)
        return data, params, rows

    def score(self, data: Any, params: dict[str, Any] | None, request_id: str) -> Any:
        """Run the model on validated input; JSON-ready predictions.

        Raises:
            ModelFailure: the model raised; the traceback is logged with ``request_id``
                and never sent to the client.
        """
        try:
            return to_jsonable(self.model.predict(data, params))
        except Exception as exc:
            log.exception("request %s: model raised %s", request_id, type(exc).__name__)
            raise ModelFailure(type(exc).__name__) from None

    def predict_body(self, body: bytes, request_id: str | None = None) -> dict[str, Any]:
        """One call from raw bytes to the response object ``{"predictions": [...]}``."""
        data, params, _ = self.parse(body)
        return {"predictions": self.score(data, params, request_id or new_request_id())}

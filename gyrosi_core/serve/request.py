"""Request bodies as OpenAI reads them: JSON whatever the content type, strict types, unknown
parameters refused, and every problem a 400 `invalid_request_error` whose `param` is the field
as the client wrote it (`messages[0].content`, not pydantic's `messages.0.str`)."""

import json
import re
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import ClientDisconnect

from .errors import APIError

# A `\uD800`-`\uDFFF` escape: the only way a JSON text can carry a lone surrogate, which no
# tokenizer can encode (checked only when one is present, so ordinary bodies cost nothing).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_JSON_HINT = "send a JSON object (Content-Type: application/json)"


class Strict(BaseModel):
    """A request object: an unknown field is an error, as in OpenAI's API."""

    model_config = ConfigDict(extra="forbid")


class Echoed(BaseModel):
    """An item a client may send back as the server returned it: fields it carries that do not
    change the conversation (ids, status, annotations) are accepted."""

    model_config = ConfigDict(extra="ignore")


MAX_STOPS = 4  # OpenAI's limit on `stop` sequences


def stop_strings(stop: str | list[str] | None) -> list[str]:
    """The `stop` parameter of the completion APIs as a list, empty strings dropped."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    return [s for s in stops if s]


def check_stops(stops: list[str]) -> None:
    """A 400 for more stop sequences than OpenAI accepts."""
    if len(stops) > MAX_STOPS:
        raise APIError(400, f"Invalid value for 'stop': at most {MAX_STOPS} stop sequences.",
                       param="stop", code="invalid_value")


async def parse_body[M: BaseModel](request: Request, model: type[M]) -> M:
    try:
        body = await request.body()
    except ClientDisconnect:  # gone (or cut off at serve.body_timeout_s): nobody to answer
        raise APIError(400, "The connection closed before the request body arrived.",
                       code="incomplete_body") from None
    return parse(body, model)


def parse[M: BaseModel](body: bytes, model: type[M]) -> M:
    """`body` as a `model`, or the 400 that says what is wrong with it."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise APIError(400, f"The request body must be a JSON object, not {_kind(data)}.",
                       code="invalid_json")
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise invalid(exc, data) from None


def load_json(body: bytes) -> Any:
    if not body.strip():
        raise APIError(400, f"The request body is empty; {_JSON_HINT}.", code="invalid_json")
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise APIError(400, f"The request body is not UTF-8 text; {_JSON_HINT}.",
                       code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise APIError(400, f"The request body is not valid JSON ({exc.msg} at line "
                       f"{exc.lineno}, column {exc.colno}); {_JSON_HINT}.",
                       code="invalid_json") from None
    except RecursionError:
        raise APIError(400, "The request body is nested too deeply.", code="invalid_json") \
            from None
    if _SURROGATE_ESCAPE.search(body) and (where := _lone_surrogate(data, "")) is not None:
        raise APIError(400, f"Invalid value for {where or 'the body'!r}: the text holds a lone "
                       f"UTF-16 surrogate escape (\\ud800-\\udfff without its pair), which is "
                       f"not a character.", param=where or None, code="invalid_value")
    return data


def _lone_surrogate(node: Any, where: str) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, if any."""
    stack = [(node, where)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and not _encodes(node):
                return where
        elif isinstance(node, dict):
            for key, value in node.items():
                if not _encodes(key):
                    return where
                stack.append((value, f"{where}.{key}" if where else key))
        elif isinstance(node, list):
            stack.extend((value, f"{where}[{i}]") for i, value in enumerate(node))
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), "a value")


def client_path(loc: tuple[Any, ...], data: Any) -> tuple[str, int]:
    """pydantic's error location as the client wrote it, and how much of it matched the body.

    pydantic puts union members and tags (`str`, `list[...]`, `FunctionTool`) in the location;
    only the keys and indexes that exist in the body are kept (a missing key last)."""
    path = ""
    matched = 0
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            path, node, matched = f"{path}[{part}]", node[part], matched + 1
        elif isinstance(part, str) and isinstance(node, dict) and (
                part in node or i == len(loc) - 1):
            path = f"{path}.{part}" if path else part
            matched += 1
            node = node.get(part)
    return path, matched


def invalid(exc: ValidationError, data: Any) -> APIError:
    """The error that best explains a failed validation: the one that got deepest into the
    body (for a union, the member the client meant)."""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:  # the plainest problem first
        where, _ = client_path(tuple(unknown[0]["loc"]), data)
        return APIError(400, f"Unknown parameter: {where!r}.", param=where,
                        code="unknown_parameter")
    scored = [(client_path(tuple(e["loc"]), data), e) for e in errors]
    (where, _), first = max(scored, key=lambda s: s[0][1])
    msg = first["msg"]
    if first["type"] == "missing":
        return APIError(400, f"Missing required parameter: {where!r}.", param=where,
                        code="missing_required_parameter")
    if where:
        return APIError(400, f"Invalid value for {where!r}: {msg}.", param=where,
                        code="invalid_value")
    return APIError(400, f"Invalid request body: {msg}.", code="invalid_value")


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A route's `openapi_extra`: its JSON body is a `model` (the app adds the schemas)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def add_schemas(openapi: dict[str, Any], models: list[type[BaseModel]]) -> dict[str, Any]:
    """`openapi` with the JSON schemas of the request `models` among its components."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422: never sent here
        schemas.pop(name, None)
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = {"description": "An invalid request: an OpenAI error object."}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return openapi

"""Routes of the Responses API: create, retrieve, delete, and a response's input items."""

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from openai_harmony import Message

from ..conversation import builtin_tools, new_id, token_counter
from ..errors import APIError, not_found
from ..request import body_schema, parse_body
from ..server import Server, ServerDep, reply
from ..store import Stored
from .protocol import ResponsesRequest, to_turn
from .stream import ResponseBuilder, ResponseStream

router = APIRouter()

ITEM_PREFIX = {"message": "msg", "reasoning": "rs", "function_call": "fc",
               "function_call_output": "fco", "web_search_call": "ws",
               "code_interpreter_call": "ci"}


def input_items(req: ResponsesRequest) -> list[dict[str, Any]]:
    """The request's input as items with ids, for GET /v1/responses/{id}/input_items."""
    if isinstance(req.input, str):
        return [{"id": new_id("msg"), "type": "message", "role": "user", "status": "completed",
                 "content": [{"type": "input_text", "text": req.input}]}]
    out = []
    for item in req.input:
        data = item.model_dump(mode="json", exclude_none=True)
        if isinstance(data.get("content"), str):
            kind = "output_text" if data.get("role") == "assistant" else "input_text"
            data["content"] = [{"type": kind, "text": data["content"]}]
        out.append({"id": new_id(ITEM_PREFIX.get(data["type"], "item")), **data})
    return out


async def _stored(server: Server, response_id: str) -> Stored:
    stored = await asyncio.to_thread(server.store.get, response_id)
    if stored is None:
        raise not_found("Response", response_id, code="response_not_found")
    return stored


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, server: ServerDep) -> dict[str, Any]:
    return (await _stored(server, response_id)).response


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str,
                          server: ServerDep) -> dict[str, Any]:
    if not await asyncio.to_thread(server.store.delete, response_id):
        raise not_found("Response", response_id, code="response_not_found")
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    server: ServerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    items = (await _stored(server, response_id)).input
    if order == "desc":
        items = items[::-1]
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise APIError(400, f"No input item {after!r} in response {response_id!r}.",
                           param="after", code="invalid_value")
        items = items[ids.index(after) + 1:]
    page = items[:limit]
    return {"object": "list", "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit}


@router.post("/v1/responses", openapi_extra=body_schema(ResponsesRequest))
async def create_response(request: Request, server: ServerDep) -> Any:
    body = await parse_body(request, ResponsesRequest)
    pool = await server.pool(body.model)
    history: list[Message] = []
    calls: dict[str, str] = {}
    conversation_id = None
    if body.previous_response_id:
        prev = await asyncio.to_thread(server.store.get, body.previous_response_id)
        if prev is None:
            raise APIError(404, f"Previous response with id {body.previous_response_id!r} "
                           f"not found.", param="previous_response_id",
                           code="previous_response_not_found")
        history = [Message.from_dict(m) for m in prev.messages]
        calls, conversation_id = dict(prev.calls), prev.conversation_id
    turn = to_turn(body, pool.engine.settings, history, calls)
    turn.builtins = builtin_tools(body.builtin_types(), server.tool_specs,
                                  server.config.serve.builtin_tools)
    for kind, name in zip(body.builtin_types(), turn.builtins, strict=True):
        await server.check_tool(name, kind)  # one that cannot start: a 400 before generating
    turn.conversation_id = conversation_id or new_id("conv")
    store = body.store is not False
    engine = pool.engine
    builder = ResponseBuilder(body, pool.name, new_id("resp"), set(turn.functions),
                              turn.settings, token_counter(engine.encoding))
    known_calls = dict(calls)
    items = input_items(body) if store else []

    def save(messages: list[dict[str, Any]]) -> None:
        response = builder.response(builder.status).model_dump(mode="json",
                                                               serialize_as_any=True)
        server.store.put(Stored(builder.id, turn.conversation_id or "", response, messages,
                                {**known_calls, **builder.calls}, items))

    translator = ResponseStream(builder, bool(body.stream), save if store else None)
    job, first = await server.run(pool, turn, translator, keep=store)
    return await reply(job, first, bool(body.stream))

"""The route of Chat Completions."""

import random
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..conversation import token_counter
from ..request import body_schema, parse_body
from ..server import ServerDep, collect, reply
from .protocol import ChatRequest, to_turn
from .stream import ChatBuilder, ChatStream

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=body_schema(ChatRequest))
async def create_chat_completion(request: Request, server: ServerDep) -> Any:
    body = await parse_body(request, ChatRequest)
    pool = await server.pool(body.model)
    turn = to_turn(body, pool.engine.settings)
    engine = pool.engine

    count = token_counter(engine.encoding)
    n = body.n or 1
    if n == 1:
        builder = ChatBuilder(body, pool.name, set(turn.functions), count)
        job, first = await server.run(pool, turn, ChatStream(builder, body.stream), keep=False)
        return await reply(job, first, body.stream)
    # n choices: n generations one after another, each with its own seed derived from the
    # request's (or a random one), so a sampling backend gives n different answers
    base = turn.settings.seed if turn.settings.seed is not None else random.randrange(2**31)
    choices: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    for index in range(n):
        turn = to_turn(body, pool.engine.settings)
        turn.settings = turn.settings.model_copy(update={"seed": base + index})
        builder = ChatBuilder(body, pool.name, set(turn.functions), count)
        job, first = await server.run(pool, turn, ChatStream(builder, False), keep=False)
        status, completion = await collect(job, first)
        if status != 200:
            return JSONResponse(completion, status_code=status)
        choices.append({**completion["choices"][0], "index": index})
        usage = completion["usage"] or {}
        if not merged:
            merged = completion
        else:  # the prompt is counted once, the completions add up
            total = merged["usage"]
            total["completion_tokens"] += usage["completion_tokens"]
            total["total_tokens"] += usage["completion_tokens"]
            total["completion_tokens_details"]["reasoning_tokens"] += \
                usage["completion_tokens_details"]["reasoning_tokens"]
    return {**merged, "choices": choices}

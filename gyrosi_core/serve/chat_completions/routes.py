"""The route of Chat Completions."""

from typing import Any

from fastapi import APIRouter, Request

from ..request import body_schema, parse_body
from ..server import ServerDep, reply
from .protocol import ChatRequest, to_turn
from .stream import ChatBuilder, ChatStream

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=body_schema(ChatRequest))
async def create_chat_completion(request: Request, server: ServerDep) -> Any:
    body = await parse_body(request, ChatRequest)
    pool = await server.pool(body.model)
    turn = to_turn(body, pool.engine.settings)
    engine = pool.engine
    builder = ChatBuilder(body, pool.name, set(turn.functions),
                          lambda text: len(engine.encoding.encode(text)))
    translator = ChatStream(builder, body.stream)
    job, first = await server.run(pool, turn, translator, keep=False)
    return await reply(job, first, body.stream)

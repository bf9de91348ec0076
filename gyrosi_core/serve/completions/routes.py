"""The route of (legacy) Completions: the backend continues the prompt's tokens directly."""

from typing import Any

from fastapi import APIRouter, Request

from ...backend import GenerateRequest, start_generation
from ..errors import APIError
from ..request import body_schema, parse_body
from ..server import ServerDep, failure, reply
from ..worker import Cancelled, Job
from .protocol import CompletionRequest
from .stream import CompletionStream

router = APIRouter()


@router.post("/v1/completions", openapi_extra=body_schema(CompletionRequest))
async def create_completion(request: Request, server: ServerDep) -> Any:
    body = await parse_body(request, CompletionRequest)
    body.check()
    pool = await server.pool(body.model)
    engine = pool.engine
    prompt = body.the_prompt()
    if isinstance(prompt, str):
        text, tokens = prompt, engine.encoding.encode(prompt, disallowed_special=())
    else:
        try:
            text = engine.encoding.decode(prompt)
        except Exception:  # the tokenizer's own error for an id it does not know
            raise APIError(400, "Invalid value for 'prompt': it holds token ids outside the "
                           "vocabulary.", param="prompt", code="invalid_value") from None
        tokens = prompt
    settings = engine.settings
    limit = min(settings.context_length, getattr(engine.backend, "context_length",
                                                 settings.context_length))
    if len(tokens) + body.max_tokens > limit:
        raise APIError(400, f"The prompt ({len(tokens)} tokens) plus max_tokens "
                       f"({body.max_tokens}) is more than the context length ({limit}).",
                       param="prompt", code="context_length_exceeded")
    if not tokens:
        raise APIError(400, "Invalid value for 'prompt': it is empty.", param="prompt",
                       code="invalid_value")
    translator = CompletionStream(body, pool.name, text, len(tokens), engine.encoding.decode)
    stops = list(engine.stop_tokens)
    temperature = settings.temperature if body.temperature is None else body.temperature
    seed = settings.seed if body.seed is None else body.seed

    def work(job: Job) -> Any:
        generated = start_generation(engine.backend, GenerateRequest(
            tokens=tokens, stop_tokens=stops, max_tokens=body.max_tokens,
            temperature=temperature, seed=seed))
        stopped_by_token = False
        try:
            for token in generated:
                if not isinstance(token, int):  # a `Source` the backend names: not text
                    continue
                if token in stops:  # the end of the text, not part of it
                    stopped_by_token = True
                    break
                job.put(token)
                if translator.stopped:
                    break
            job.flush()
            result = translator.finish([], stop_token=stopped_by_token)
        except Cancelled:
            raise
        except Exception as exc:
            if not job.started:
                raise  # nothing sent yet: the route answers with an HTTP error
            result = translator.fail(str(failure(exc).message))
        finally:
            close = getattr(generated, "close", None)
            if callable(close):
                close()
        if isinstance(result, str):
            job.send(result)
            return None
        return result

    job, first = await server.start(pool, work, translator)
    return await reply(job, first, body.stream)

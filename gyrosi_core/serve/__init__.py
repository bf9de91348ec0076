"""`gyrosi serve`: an OpenAI-compatible HTTP API on the plugin host.

    app.py               the application: API key, body size, CORS, routers; process entry points
    server.py            the one generation path: backend pools, the worker, the reply
    request.py           strict JSON bodies: OpenAI's 400s, parameters named as clients wrote them
    worker.py            worker threads per backend, slots, the thread → event-loop bridge
    conversation.py      what every API shares: a request as a conversation for the turn engine
    models.py            /health, /v1/models
    responses/           the Responses API (gpt-oss's types and events), stored responses
    chat_completions/    Chat Completions
    completions/         (legacy) Completions
    store.py             stored responses in SQLite (previous_response_id, GET /v1/responses/ID)
    errors.py            OpenAI-style error objects

Each API package holds `protocol.py` (request types and the conversation they stand for),
`stream.py` (turn events → response objects and stream events) and `routes.py` (an APIRouter).
"""

"""`gyrosi serve`: an OpenAI-compatible HTTP API (Responses, Chat Completions) on the plugin host.

    app.py           routes, API key and body-size guard, the one generation path
    worker.py        worker threads per backend, slots, the thread → event-loop bridge
    conversation.py  what both APIs share: a request as a conversation for the turn engine
    responses.py     the Responses API (gpt-oss's types and events)
    chat.py          Chat Completions
    store.py         stored responses in SQLite (previous_response_id, GET /v1/responses/ID)
    errors.py        OpenAI-style error objects
"""

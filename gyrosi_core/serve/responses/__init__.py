"""The Responses API: `protocol` (request → conversation), `stream` (events → response and
SSE events), `routes` (the APIRouter)."""

from .routes import router

__all__ = ["router"]

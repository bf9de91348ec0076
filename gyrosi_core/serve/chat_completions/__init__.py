"""Chat Completions: `protocol` (request → conversation), `stream` (events → completion and
chunks), `routes` (the APIRouter)."""

from .routes import router

__all__ = ["router"]

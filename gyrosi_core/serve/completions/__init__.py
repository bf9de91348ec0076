"""(Legacy) Completions: `protocol` (the request), `stream` (token ids → text, completion and
chunks), `routes` (the APIRouter)."""

from .routes import router

__all__ = ["router"]

"""`/health`, `GET /v1/models` and `GET /v1/models/{id}`: the installed backends as models."""

from typing import Any

from fastapi import APIRouter

from .errors import APIError
from .server import ServerDep

router = APIRouter()


@router.get("/health")
async def health(server: ServerDep) -> dict[str, Any]:
    return {"status": "ok", "backends": {n: p.stats() for n, p in server.pools.items()}}


def _model(name: str, spec: Any) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": spec.plugin.distribution,
            "description": spec.description}


@router.get("/v1/models")
async def list_models(server: ServerDep) -> dict[str, Any]:
    return {"object": "list",
            "data": [_model(name, spec) for name, spec in sorted(server.backends.items())]}


@router.get("/v1/models/{model_id}")
async def get_model(model_id: str, server: ServerDep) -> dict[str, Any]:
    spec = server.backends.get(model_id)
    if spec is None:
        known = ", ".join(sorted(server.backends)) or "none"
        raise APIError(404, f"The model {model_id!r} does not exist; available: {known}.",
                       param="model", code="model_not_found")
    return _model(model_id, spec)

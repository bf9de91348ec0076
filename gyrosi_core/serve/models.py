"""`/health`, `GET /v1/models` and `GET /v1/models/{id}`: the installed backends as models."""

from typing import Any

from fastapi import APIRouter

from .server import ServerDep

router = APIRouter()


@router.get("/health")
async def health(server: ServerDep) -> dict[str, Any]:
    return {"status": "ok", "backends": {n: p.stats() for n, p in server.pools.items()}}


@router.get("/v1/models")
async def list_models(server: ServerDep) -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": spec.plugin.distribution,
         "description": spec.description}
        for name, spec in sorted(server.backends.items())]}

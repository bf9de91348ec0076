"""The page's routes: `/` and its static files under `/web/`, public (a browser loads them
before it knows the API key; the page then sends the key with every API request)."""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
# Defence in depth beside the renderer's textContent-only rule: no inline script, nothing from
# another origin, no plugins, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


async def index(_: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def routes() -> list[Route | Mount]:
    return [Route("/", index, methods=["GET"]),
            Mount("/web", StaticFiles(directory=STATIC), name="web_chat")]

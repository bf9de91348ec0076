"""`gyrosi web`: `gyrosi serve`, then the page opened in the user's browser once it answers."""

import threading
import time
import urllib.request
import webbrowser

import click

from gyrosi_core.errors import GyrosiError
from gyrosi_core.frontend import resolve_config

WAIT_S = 300  # the first start of the GyroSI engine builds its atlas before the server answers


def page_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine reaches it on loopback
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def open_when_up(url: str) -> None:
    """Open `url` in the browser once the server's /health answers (or say so if it never)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        return
    if not webbrowser.open(url):
        click.echo(f"gyrosi web: no browser found; open {url} yourself.", err=True)


@click.command("web")
@click.option("--host", "bind", help="Address to bind (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option("--backend", "-b", help="Default backend, chosen first on the page.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Config file (default: $GYROSI_CONFIG, then the built-in defaults).")
@click.option("--api-key", envvar="GYROSI_API_KEY", show_envvar=True,
              help="Require this key (the page asks for it once and keeps it).")
@click.option("--open/--no-open", "open_browser", default=True,
              help="Open the page in the default browser (default: yes).")
@click.pass_context
def web(ctx: click.Context, bind: str | None, port: int | None, backend: str | None,
        config_file: str | None, api_key: str | None, open_browser: bool) -> None:
    """Chat in the browser: serve the API and the web chat page, and open the page.

    Any OpenAI client can use the same server at the printed address + /v1.
    """
    serve = ctx.find_root().command
    assert isinstance(serve, click.Group)
    serve_command = serve.get_command(ctx, "serve")
    if serve_command is None:
        raise GyrosiError("This gyrosi has no 'serve' command, which the web chat runs on.")
    config = resolve_config(config_file, {"backend": backend})
    url = page_url(bind or config.serve.host, port or config.serve.port)
    click.echo(f"gyrosi web: {url} (Ctrl-C stops the server)", err=True)
    if open_browser:
        threading.Thread(target=open_when_up, args=(url,), daemon=True,
                         name="gyrosi-web-open").start()
    ctx.invoke(serve_command, bind=bind, port=port, backend=backend, config_file=config_file,
               api_key=api_key)

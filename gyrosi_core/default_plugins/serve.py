"""`gyrosi serve`: the OpenAI-compatible API server (see `gyrosi_core.serve`)."""

import logging
import os

import click

from ..hookspecs import hookimpl
from ..options import pass_host


@hookimpl
def register_commands(cli):
    @cli.command("serve")
    @click.option("--host", "bind", help="Address to bind (default 127.0.0.1: this machine only).")
    @click.option("--port", type=int, help="Port (default 8000).")
    @click.option("--backend", "-b", help="Default backend, used when a request names no model.")
    @click.option(
        "--config", "config_file", type=click.Path(dir_okay=False),
        help="Config file (default: $GYROSI_CONFIG, then the built-in defaults).",
    )
    @click.option("--api-key", envvar="GYROSI_API_KEY", show_envvar=True,
                  help="Require 'Authorization: Bearer KEY' on every endpoint but /health.")
    @click.option("--workers", type=int, help="Server processes (default 1); they share the "
                  "response store. 2 uses both cores of a 2-core machine.")
    @click.option("--slots", type=int, help="Generations at once per backend (default: what the "
                  "backend declares).")
    @click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"],
                                                   case_sensitive=False),
                  help="Log level of the server (default: the gyrosi --log-level).")
    @pass_host
    def serve_command(plugin_host, bind, port, backend, config_file, api_key, workers, slots,
                      log_level):
        """Serve the OpenAI Responses and Chat Completions APIs over HTTP.

        Each installed backend is a model (GET /v1/models); requests that name none use
        --backend. Stored responses live in $GYROSI_HOME/responses.sqlite3.
        """
        from pydantic import ValidationError

        from ..config import ServeConfig, describe, resolve_config
        from ..errors import ConfigError
        from ..serve.app import (
            API_KEY_ENV,
            OPTIONS_ENV,
            ServeOptions,
            create_app,
            options_env,
            run_one,
            run_processes,
        )

        config = resolve_config(config_file, {"backend": backend})
        flags = {"host": bind, "port": port, "workers": workers, "slots": slots}
        try:
            serve_config = ServeConfig.model_validate(
                {**config.serve.model_dump(), **{k: v for k, v in flags.items() if v is not None}})
        except ValidationError as exc:
            raise ConfigError(f"Invalid option: --{describe(exc).replace('_', '-')}.") from exc
        config = config.model_copy(update={"serve": serve_config})
        level = (log_level or logging.getLevelName(logging.getLogger().level)).upper()
        logging.getLogger().setLevel(level)
        options = ServeOptions(config_file=config_file, backend=backend,
                               slots=serve_config.slots)
        common = {"host": serve_config.host, "port": serve_config.port, "log_config": None,
                  "log_level": level.lower(), "access_log": level == "DEBUG",
                  "timeout_graceful_shutdown": 5}
        from ..turn import choose_backend

        # each process starts the backend; an unknown name is checked once, here
        default = choose_backend(plugin_host, backend or config.core.backend).name
        click.echo(f"gyrosi serve: http://{serve_config.host}:{serve_config.port}/v1 (backend "
                   f"{default}, {serve_config.workers} process(es))", err=True)
        if serve_config.workers > 1:
            os.environ[OPTIONS_ENV] = options_env(options)
            if api_key:
                os.environ[API_KEY_ENV] = api_key
            run_processes(serve_config.workers, serve_config, common)
        else:
            app = create_app(plugin_host, config, options, api_key)
            server = app.state.server
            server.load(server.default)  # a backend that cannot start: one sentence, not a trace
            run_one(app, serve_config, common)


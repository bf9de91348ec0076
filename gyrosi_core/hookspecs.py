"""The hooks a GyroSI plugin can implement.

Each hook hands the plugin a `register` callback (or the click group), in the style of `llm`:

    from gyrosi_core import hookimpl

    @hookimpl
    def register_backends(register):
        register("echo", EchoBackend, description="Repeats the prompt")

Plugins are modules named by an entry point in the `gyrosi` group.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("gyrosi")
hookimpl = HookimplMarker("gyrosi")


@hookspec
def register_backends(register):
    """Register backends: `register(name, factory, description=None)`.

    `factory(config: dict, encoding: HarmonyEncoding)` returns a `gyrosi_core.backend.Backend`;
    `config` is the backend's section of the config file (`backends.NAME`).
    """


@hookspec
def register_tools(register):
    """Register tools: `register(function)` or `register(name, factory, description=None)`.

    `register(function)` turns a plain typed Python function into the function tool
    `functions.<its name>`: its docstring is the description, its type hints the JSON schema of
    its arguments (checked before it is called), and what it returns (text, or anything JSON
    can hold) goes back to the model.

    Otherwise `name` is a builtin namespace (`browser`, `python`) or a function name
    (`functions.add`), and `factory(config: dict)` returns a `gpt_oss.tools.tool.Tool` for a
    namespace, or a `gyrosi_core.tools.FunctionTool` whose recipient is `name`, from
    `config`, the tool's section of the config file (`tools.NAME`). It is called once per
    conversation, so a stateful tool (a Jupyter kernel) lives as long as the conversation.

    A plugin's tool is off until the user enables it (`--tool NAME` or `core.tools` in the
    config): installing a plugin never puts its tools into every conversation. (`enabled` is
    accepted for compatibility; only the core's own tools may be on by default.)
    """


@hookspec
def register_channel_handlers(register):
    """Register channel handlers: `register(name, factory)`.

    `factory(context: gyrosi_core.channels.HandlerContext)` returns an object with
    `channels` (a set of channel names, or None for all) and `on_event(event)`, or None when the
    handler has nothing to do in that context. Every turn event (`gyrosi_core.events`) for those
    channels reaches it; turn-level events (start, end, error) reach every handler.
    """


@hookspec
def register_commands(cli):
    """Add commands to the `gyrosi` click group (front-ends such as `run`, `serve`, `atlas`).

    Every `gyrosi` invocation calls this hook, so keep it cheap: import what a command needs
    inside it, or register commands that live in a heavy module by name with
    `cli.add_lazy_command("module:attr", {"name": "one-line help"})` (imported when one runs).
    """


@hookspec
def register_engine_options(register):
    """Add flags to the commands that build a turn engine (`run`, `generate`, and any command
    decorated with `gyrosi_core.options.engine_options`): `register(options, apply)`.

    `options` is a list of `click.Option`. `apply(values)` gets their values by parameter name
    when the command builds its engine and returns a `gyrosi_core.options.EngineChoices` (tools
    to switch on, settings merged over `tools.NAME` / `backends.NAME` config sections), or None
    when the flags ask for nothing.
    """


@hookspec
def register_routes(register):
    """Add routes to `gyrosi serve`: `register(route, public=False)`.

    `route` is a Starlette route: `starlette.routing.Route`, `Mount` (of `StaticFiles` or any
    ASGI app) or a FastAPI `APIRoute`. Plugin routes are tried after the server's own, so they
    cannot shadow the API. The API key (`--api-key`) applies to them unless `public=True` — meant
    for a page and its static files, which a browser loads before it has a key; never for a
    route that generates or reads stored responses.
    """

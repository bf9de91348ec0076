"""Configuration, in layers, each over the one before:

1. the defaults shipped inside this package (`gyrosi_core/defaults.json`);
2. the user's config file, `config.json` in the platform's config directory
   (`~/.config/gyrosi/config.json` on Linux), when it exists;
3. `--config FILE`, else `$GYROSI_CONFIG`;
4. command-line flags.

A file need only hold the keys it changes; sections merge key by key. The core section is
validated here; each backend/tool section is a plain mapping handed to its plugin, which
validates it with its own pydantic model (see `validate_section`).
"""

import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

ReasoningEffortName = Literal["low", "medium", "high"]
DEFAULTS = "defaults.json"  # package data; tests/test_config.py keeps it equal to the models


class CoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str | None = None  # None: the GyroSI engine if installed, else the only backend
    model_identity: str = "You are GyroSI, a model served by the GyroSI plugin host."
    reasoning_effort: ReasoningEffortName = "medium"
    developer_message: str = ""
    knowledge_cutoff: str = "2024-06"
    max_tokens: int = Field(default=1024, gt=0)
    max_tool_rounds: int = Field(default=8, ge=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = None
    context_length: int = Field(default=131072, gt=0)
    tools: list[str] | None = None  # None: only the core's own default tools; plugins' are off
    log: bool = True  # log every turn of `run`/`generate` to $GYROSI_HOME/logs.sqlite3


type BuiltinTool = Literal["browser", "python"]


def _browser_only() -> list[BuiltinTool]:
    return ["browser"]


class ServeConfig(BaseModel):
    """`gyrosi serve`: the OpenAI-compatible API server (flags override these)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)  # server processes (sharing the response store)
    slots: int | None = Field(default=None, ge=1)  # generations at once per backend; None: ask it
    queue: int = Field(default=64, ge=0)  # requests that may wait for a slot; more get a 503
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    store_max_responses: int = Field(default=10000, ge=1)
    store_max_age_days: float = Field(default=30.0, gt=0)
    # Tool plugins a request's builtin tool types may turn on (web_search -> browser,
    # code_interpreter -> python). python runs model-written code: list it only on purpose.
    builtin_tools: list[BuiltinTool] = Field(default_factory=_browser_only)
    # Slow and idle clients: a request's head must arrive within header_timeout_s of the
    # connection (or of the previous response), its body within body_timeout_s of the head; an
    # idle keep-alive connection closes after keep_alive_s. Connections beyond max_connections
    # get a 503 server_busy at once.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    # Browser origins allowed to call the API (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    core: CoreConfig = Field(default_factory=CoreConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    backends: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tools: dict[str, dict[str, Any]] = Field(default_factory=dict)
    handlers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def backend_section(self, name: str) -> dict[str, Any]:
        return dict(self.backends.get(name, {}))

    def tool_section(self, name: str) -> dict[str, Any]:
        return dict(self.tools.get(name, {}))


def describe(err: ValidationError, prefix: str = "") -> str:
    """The first problem of a validation error as `key.path: message`."""
    first = err.errors()[0]
    parts = [*(prefix.split(".") if prefix else []), *(str(p) for p in first["loc"])]
    key = ".".join(parts)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{key}: {msg}" if key else msg


def user_config_path() -> Path:
    """`config.json` in the platform's user config directory (it need not exist)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("gyrosi")) / "config.json"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The file given with `--config`, else `$GYROSI_CONFIG`, else None."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("GYROSI_CONFIG"):
        return Path(env)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})."
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"Config file {path} is nested too deeply to be a config.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a JSON object at the top level.")
    return raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def defaults() -> dict[str, Any]:
    """The defaults shipped with the package."""
    data: dict[str, Any] = json.loads(files(__package__).joinpath(DEFAULTS).read_text("utf-8"))
    return data


def _validate(raw: dict[str, Any], path: Path | None) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        where = f"Config file {path}" if path else "Built-in defaults"
        raise ConfigError(f"{where}: {describe(exc)}.") from exc
    except RecursionError as exc:
        raise ConfigError(f"Config file {path} is nested too deeply to be a config.") from exc


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """The layered config; every problem is one sentence naming the file and key."""
    raw = defaults()
    config = _validate(raw, None)
    user = user_config_path()
    for path in (user if user.is_file() else None, config_path(explicit)):
        if path is not None:
            raw = _merge(raw, _read(path))
            config = _validate(raw, path)
    return config


CORE_FLAGS = ("backend", "reasoning_effort", "developer_message", "max_tokens", "temperature",
              "seed")


def resolve_config(config_file: str | None, flags: dict[str, Any]) -> Config:
    """The layered config with command-line flags on top; a bad flag value is reported like a
    bad config key."""
    config = load_config(config_file)
    overrides = {k: flags[k] for k in CORE_FLAGS if flags.get(k) is not None}
    if flags.get("no_log"):
        overrides["log"] = False
    if not overrides:
        return config
    try:
        core = CoreConfig.model_validate({**config.core.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(f"Invalid option: {describe(exc).replace('_', '-')}.") from exc
    return config.model_copy(update={"core": core})


def validate_section[M: BaseModel](model: type[M], section: dict[str, Any], where: str) -> M:
    """Validate a plugin's config section; `where` is its key path, e.g. `backends.stub`."""
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(f"Invalid config: {describe(exc, where)}.") from exc

"""Configuration: defaults in `config.json`, overridden by `--config`/`GYROSI_CONFIG`, then flags.

The core section is validated here; each backend/tool section is a plain mapping handed to its
plugin, which validates it with its own pydantic model (see `validate_section`).
"""

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

ReasoningEffortName = Literal["low", "medium", "high"]

# A checkout keeps its defaults beside pyproject.toml; an installed wheel uses the model defaults,
# which tests/test_config.py keeps identical to that file.
REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.json"


class CoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "stub"
    model_identity: str = "You are GyroSI, a model served by the GyroSI plugin host."
    reasoning_effort: ReasoningEffortName = "medium"
    developer_message: str = ""
    knowledge_cutoff: str = "2024-06"
    max_tokens: int = Field(default=1024, gt=0)
    max_tool_rounds: int = Field(default=8, ge=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = None
    context_length: int = Field(default=131072, gt=0)
    tools: list[str] | None = None  # None: every tool its plugin enables by default


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
    builtin_tools: list[str] = Field(default_factory=lambda: ["browser"])


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


def _describe(err: ValidationError, prefix: str = "") -> str:
    first = err.errors()[0]
    parts = [*(prefix.split(".") if prefix else []), *(str(p) for p in first["loc"])]
    key = ".".join(parts)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{key}: {msg}" if key else msg


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if env := os.environ.get("GYROSI_CONFIG"):
        return Path(env)
    return REPO_CONFIG if REPO_CONFIG.is_file() else None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config; every problem is one sentence naming the file and key."""
    path = config_path(explicit)
    if path is None:
        return Config()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a JSON object at the top level.")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"Config file {path}: {_describe(exc)}.") from exc


def validate_section[M: BaseModel](model: type[M], section: dict[str, Any], where: str) -> M:
    """Validate a plugin's config section; `where` is its key path, e.g. `backends.stub`."""
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(f"Invalid config: {_describe(exc, where)}.") from exc

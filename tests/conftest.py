from pathlib import Path

import pytest

from gyrosi_core.config import Config
from gyrosi_core.plugins import PluginHost
from gyrosi_core.turn import TurnEngine, plan_engine

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_engine(gyrosi_home, harmony_encoding):
    """Engine on the installed stub backend with config `raw` (a dict) and extra plugins."""

    def make(raw: dict | None = None, *plugins, handlers=(), **kw) -> TurnEngine:
        host = PluginHost(entry_points=False)
        from gyrosi_stub import plugin as stub_plugin

        host.register(stub_plugin)
        for plugin in plugins:
            host.register(plugin)
        config = Config.model_validate(raw or {})
        return plan_engine(host, config, config.core.backend, handlers=handlers, **kw).build()

    return make

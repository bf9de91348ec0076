"""One real atlas per test session, built by two `gyrosi atlas build` processes racing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gyrosi_engine.atlas import Atlas, AtlasPaths

GYROSI = [sys.executable, "-c", "from gyrosi_core.cli import main; main()"]


def gyrosi_env(home: Path) -> dict[str, str]:
    return {**os.environ, "GYROSI_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}


class Cli:
    """Runs `gyrosi` as a real subprocess against a given home."""

    def run(self, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GYROSI, *args], env=gyrosi_env(home), capture_output=True,
                              text=True)

    def start(self, home: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*GYROSI, *args], env=gyrosi_env(home), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory, cli: Cli) -> Path:
    home = tmp_path_factory.mktemp("atlas-home")
    builders = [cli.start(home, "atlas", "build") for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in builders]
    for code, _, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    outs = sorted(out.splitlines()[0] for _, out, _ in results)
    # Exactly one built; the other waited on the lock and used that atlas.
    assert outs[0].startswith("Built the atlas in"), outs
    assert outs[1].startswith("The atlas in") and "already built" in outs[1], outs
    assert any("ontology (BFS)" in err and "epistemology" in err for _, _, err in results)
    return home


@pytest.fixture(scope="session")
def atlas(built_home: Path) -> Atlas:
    return Atlas.load(AtlasPaths(built_home))

"""One real atlas per test session, built by two `gyrosi atlas build` processes racing."""

import os
import signal
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

    def start(self, home: Path, *args: str, ctrl_c: bool = False) -> subprocess.Popen[str]:
        """`ctrl_c`: the process takes SIGINT as Python's default does, even when the suite
        itself ignores it (as `python -m pytest &` does in a script: Ctrl-C stays ignored
        through exec)."""
        reset = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if ctrl_c else None
        return subprocess.Popen([*GYROSI, *args], env=gyrosi_env(home), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=reset)


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


# --- memory and learning tests (issue 4) --------------------------------------------------------


class MemoryKit:
    """Homes with an empty memory, on the session's atlas, for memory and learning tests (the
    tests import with importlib, so helpers they share come as this fixture)."""

    def __init__(self, cli: Cli, built_home: Path) -> None:
        self.cli, self.built_home = cli, built_home

    def home(self, root: Path, **gyrosi: object) -> tuple[Path, Path]:
        """A fresh home whose atlas is a symlink to the session's, and a config file: no starter
        corpus, so memory holds only what a test learns; `gyrosi` adds `backends.gyrosi` keys."""
        import json

        home = root / "home"
        home.mkdir(parents=True)
        (home / "atlas").symlink_to(self.built_home / "atlas", target_is_directory=True)
        config = root / "config.json"
        section = {"starter": False, **gyrosi}
        config.write_text(json.dumps({"backends": {"gyrosi": section}}), encoding="utf-8")
        return home, config

    def stats(self, home: Path, config: Path) -> dict[str, int]:
        import json

        done = self.cli.run(home, "memory", "stats", "--json", "--config", str(config))
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        stats: dict[str, int] = json.loads(done.stdout)
        return stats

    def run_input(self, home: Path, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
        """`gyrosi ARGS` with `data` on its standard input."""
        return subprocess.run([*GYROSI, *args], env=gyrosi_env(home), input=data,
                              capture_output=True)

    def start_input(self, home: Path, *args: str) -> subprocess.Popen[bytes]:
        """`gyrosi ARGS` started with a pipe on its standard input."""
        return subprocess.Popen([*GYROSI, *args], env=gyrosi_env(home), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    @staticmethod
    def corpus(folder: Path, megabytes: float, files: int, seed: int = 4) -> list[Path]:
        """Varied generated sentences (random made-up words), split over `files` files."""
        import random

        rng = random.Random(seed)
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                         for _ in range(rng.randint(2, 9))) for _ in range(5000)]
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i in range(files):
            lines, size = [], 0
            while size < megabytes * 1_000_000 / files:
                line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 20)))
                lines.append(line.capitalize() + ".\n")
                size += len(line) + 2
            path = folder / f"part{i}.txt"
            path.write_text("".join(lines), encoding="utf-8")
            out.append(path)
        return out


@pytest.fixture(scope="session")
def kit(cli: Cli, built_home: Path) -> MemoryKit:
    return MemoryKit(cli, built_home)


@pytest.fixture
def home_cfg(tmp_path: Path, kit: MemoryKit) -> tuple[Path, Path]:
    """A fresh home with an empty memory and its config file."""
    return kit.home(tmp_path)

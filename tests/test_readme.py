"""The README's plugin example is real: installed with pip, discovered, used, conformant."""

import importlib.util
import json
import re
import subprocess
import sys

from gyrosi_core.testing import BackendConformance, run_gyrosi

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLE = re.search(r"<!-- example-plugin -->\n```python\n(.*?)```", README, re.S).group(1)
PYPROJECT = re.search(r"```toml\n(\[project\]\nname = \"gyrosi-shout\".*?)```", README,
                      re.S).group(1)


def _load_example(tmp_dir):
    path = tmp_dir / "gyrosi_shout.py"
    path.write_text(EXAMPLE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gyrosi_shout_readme", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_plugin_installs_and_runs(gyrosi_home, tmp_path):
    pkg = tmp_path / "gyrosi-shout"
    pkg.mkdir()
    (pkg / "gyrosi_shout.py").write_text(EXAMPLE, encoding="utf-8")
    (pkg / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True, capture_output=True, timeout=300,
    )
    env = {"GYROSI_HOME": str(gyrosi_home), "PYTHONPATH": str(target)}
    listing = json.loads(run_gyrosi("plugins", "--json", env=env).stdout)
    shout = next(p for p in listing["plugins"] if p["name"] == "shout")
    assert shout["backends"] == ["shout"] and shout["tools"] == ["functions.word_count"]
    result = run_gyrosi("generate", "--backend", "shout", "hello", env=env)
    assert (result.returncode, result.stdout) == (0, "HELLO\n"), result.stderr


class TestReadmeExampleConformance(BackendConformance):
    def make_backend(self, encoding):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            module = _load_example(Path(tmp))
        return module.ShoutBackend({}, encoding)

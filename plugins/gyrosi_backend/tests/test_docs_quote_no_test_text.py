"""The starter corpus learns the installed READMEs, so a README that quotes a test sentence
would change what the tests' engines answer."""

from pathlib import Path

from .test_backend import LEARNED

ROOT = Path(__file__).resolve().parents[3]


def test_no_readme_quotes_the_test_sentence() -> None:
    words = LEARNED.split()
    phrases = {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}
    for readme in [ROOT / "README.md", *ROOT.glob("plugins/*/README.md")]:
        text = " ".join(readme.read_text(encoding="utf-8").split())
        assert not [p for p in phrases if p in text], readme

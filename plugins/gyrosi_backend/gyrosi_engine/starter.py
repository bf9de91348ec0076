"""Embedded default knowledge: what an empty memory learns on first use, with no download.

- The Python documentation's topics that ship inside CPython (`pydoc_data.topics`, PSF licence).
- The READMEs of the installed GyroSI distributions (their package metadata; MIT).
"""

from collections.abc import Iterator
from importlib import metadata

DISTRIBUTIONS = ("gyrosi", "gyrosi-backend")


def documents() -> Iterator[tuple[str, str]]:
    """(name, text) of every starter document, in a fixed order."""
    from pydoc_data.topics import topics

    for name in DISTRIBUTIONS:
        try:
            text = metadata.metadata(name).get_payload()  # type: ignore[attr-defined]
        except metadata.PackageNotFoundError:
            continue
        if isinstance(text, str) and text.strip():
            yield f"{name} README", text
    for name, text in topics.items():
        yield f"pydoc topic {name}", text

"""Local browser: opening one very large page, bounded by tools.browser.max_page_mb.

Writes one --mb MB HTML page, indexes it, then opens it through the local backend (gpt-oss's
page processing) --opens times. Prints the time of the first open and of the later ones (the
rendered page is cached) and the process's peak RSS growth. Run once per cap to compare:

    .venv/bin/python plugins/tools_oss/bench/large_page.py [--mb 100] [--cap-mb 4] [--opens 3]
"""

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from gpt_oss.tools.simple_browser.page_contents import PageContents

from gyrosi_tools_oss.browser import LocalBackend
from gyrosi_tools_oss.corpus import Corpus


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--cap-mb", type=float, default=4.0)
    parser.add_argument("--opens", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "corpus"
        root.mkdir()
        paragraph = "<p>" + "The quick brown fox jumps over the lazy dog. " * 20 + "</p>\n"
        with (root / "big.html").open("w") as file:
            file.write("<html><head><title>Big</title></head><body>\n")
            for _ in range(int(args.mb * 1024 * 1024 / len(paragraph))):
                file.write(paragraph)
            file.write("</body></html>\n")
        base = peak_mb()
        corpus = Corpus(root, Path(folder) / "index.sqlite",
                        max_bytes=int(args.cap_mb * 1024 * 1024))
        start = time.perf_counter()
        corpus.refresh()
        indexed = time.perf_counter() - start
        backend = LocalBackend(corpus=corpus)
        times: list[float] = []

        async def opens() -> PageContents:
            for _ in range(args.opens):
                start = time.perf_counter()
                page = await backend.fetch("big.html", None)  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
            return page

        page = asyncio.run(opens())
        corpus.close()
    print(f"page: {args.mb:g} MB of HTML, cap {args.cap_mb:g} MB")
    print(f"index: {indexed:.2f} s")
    print(f"first open: {times[0]:.2f} s ({len(page.text):,} characters of text)")
    if len(times) > 1:
        print(f"later opens (cached): {max(times[1:]) * 1000:.2f} ms at most")
    print(f"peak RSS growth: {peak_mb() - base:.0f} MB")


if __name__ == "__main__":
    main()

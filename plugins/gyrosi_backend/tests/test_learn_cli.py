"""`gyrosi learn`, `gyrosi generate --backend gyrosi` and `gyrosi memory` through real processes:
learned text is continued as learned, the same in every process; two learners at once both
keep what they learned; bad input is reported, never a traceback; export/reset/import round
trip."""

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

Cli = Any
Kit = Any  # conftest.MemoryKit

# Long, distinctive sentences: a prefix of >= 10 tokens must lead back onto each one's path.
LIGHTHOUSE = ("The lighthouse keeper on the northern cliff counted seventeen copper gulls before "
              "the violet storm arrived over the harbour at dawn.")
CLOCKMAKER = ("An elderly clockmaker from the eastern valley repaired forty brass pendulums while "
              "the autumn fair filled the cobbled square with music.")
GLACIER = ("Our expedition surveyed the retreating glacier beneath the jagged southern ridge and "
           "logged every crevasse with a brass theodolite borrowed from the museum.")
ORCHARD = ("Every winter the beekeeper behind the abandoned mill wrapped her nine hives in woollen "
           "blankets stitched from the village's old theatre curtains.")


def prefix(sentence: str, words: int = 10) -> tuple[str, str]:
    """The first `words` words (well over 10 tokens) and the next four words, to expect."""
    split = sentence.split()
    return " ".join(split[:words]), " ".join(split[words : words + 4])


def one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].rstrip().endswith("."), errors[0]
    return errors[0]


def learned(stdout: str) -> int:
    match = re.search(r"Learned ([\d,]+) tokens from ([\d,]+) messages?", stdout)
    assert match, stdout
    return int(match[1].replace(",", ""))


def generate(cli: Cli, home: Path, config: Path | None, text: str, *flags: str) -> str:
    args = ["generate", "--backend", "gyrosi", *flags]
    if config is not None:
        args += ["--config", str(config)]
    done = cli.run(home, *args, text)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return str(done.stdout)


def test_learned_text_is_continued_as_learned_the_same_in_every_process(
    cli: Cli, kit: Kit, tmp_path: Path
) -> None:
    # The done-when, with the default config: the starter corpus is in memory too.
    home, _ = kit.home(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text(f"{LIGHTHOUSE}\n{CLOCKMAKER}\n", encoding="utf-8")
    done = cli.run(home, "learn", str(notes))
    assert done.returncode == 0, done.stderr
    assert learned(done.stdout) > 0
    start, expected = prefix(CLOCKMAKER)
    first = generate(cli, home, None, start)
    assert first.strip().startswith(expected), first
    assert generate(cli, home, None, start) == first  # another process, user messages learned
    assert generate(cli, home, None, start, "--no-learn") == first


def reading_stdin(pid: int) -> bool:
    """Whether a thread of process `pid` is blocked reading its standard input pipe (Linux
    /proc; learning reads its input in a worker thread)."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            wchan = (task / "wchan").read_text()
            syscall = (task / "syscall").read_text()
        except OSError:
            continue
        if "pipe" in wchan or syscall.startswith("0 0x0 "):  # read(0, …) on x86-64
            return True
    return False


@pytest.fixture(scope="module")
def overlapping(
    cli: Cli, kit: Kit, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, list[int]]:
    """Two `gyrosi learn`s into one home at once. The first (`learn -`) opens the memory and
    waits for its standard input; the second learns a ~2 MB file (GLACIER in the middle, many
    65,536-token batches); once that has committed a batch the first gets ORCHARD and must
    catch up with the other's batches before folding its own. Returns the home, its config and
    the token counts the two reported (stdin learner first)."""
    root = tmp_path_factory.mktemp("learners")
    home, config = kit.home(root)
    bulk = kit.corpus(root / "bulk", 2, 2)
    big = root / "glacier.txt"
    big.write_text(bulk[0].read_text() + GLACIER + "\n" + bulk[1].read_text(), encoding="utf-8")
    journal = home / "memory" / "journal.gsj"
    waiting = kit.start_input(home, "learn", "--config", str(config), "-")
    procs: list[subprocess.Popen[Any]] = [waiting]
    try:
        deadline = time.monotonic() + 120
        while not reading_stdin(waiting.pid):
            assert waiting.poll() is None, waiting.communicate()
            assert time.monotonic() < deadline, "the stdin learner never read its input"
            time.sleep(0.02)
        first = cli.start(home, "learn", "--config", str(config), str(big))
        procs.append(first)
        while first.poll() is None and not (journal.exists() and journal.stat().st_size > 28):
            assert time.monotonic() < deadline + 120, "the file learner never committed a batch"
            time.sleep(0.01)
        out, err = waiting.communicate((ORCHARD + "\n").encode(), timeout=300)
        results = [(waiting.returncode, out.decode(), err.decode()),
                   (first.wait(timeout=300), *first.communicate())]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    counts = []
    for code, out_, err_ in results:
        assert code == 0, err_
        assert "Traceback" not in err_
        counts.append(learned(out_))
    return home, config, counts


def test_two_learners_at_once_both_keep_what_they_learned(
    cli: Cli, kit: Kit, overlapping: tuple[Path, Path, list[int]]
) -> None:
    home, config, counts = overlapping
    assert kit.stats(home, config)["tokens_learned"] >= max(counts) > 0
    for sentence in (GLACIER, ORCHARD):
        start, expected = prefix(sentence)
        out = generate(cli, home, config, start, "--no-learn")
        assert out.strip().startswith(expected), (sentence, out)


def test_each_concurrent_learner_reports_only_what_it_learned(
    kit: Kit, overlapping: tuple[Path, Path, list[int]]
) -> None:
    home, config, counts = overlapping
    assert sum(counts) == kit.stats(home, config)["tokens_learned"], counts


def test_bad_input_is_reported_and_good_input_learned(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "good.txt").write_text(LIGHTHOUSE + "\n", encoding="utf-8")
    latin1 = "Un café près de la forêt, où l'été dure.\n".encode("latin-1")
    (folder / "latin1.txt").write_bytes(latin1)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_bytes(b"  \n\n\t\n")
    (folder / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    done = cli.run(home, "learn", "--config", str(config), str(folder))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "from 2 messages" in out, out
    assert re.search(r"^1 binary, skipped: \S*image\.bin$", out, re.M), out
    assert re.search(r"^2 empty, skipped: \S*blank\.txt, \S*empty\.txt$", out, re.M), out
    assert re.search(r"^1 not valid UTF-8, learned with U\+FFFD for bad bytes: \S*latin1\.txt$",
                     out, re.M), out
    tokens = kit.stats(home, config)["tokens_learned"]
    assert tokens == learned(out) > 0
    # The undecodable file was learned all the same (bad bytes as U+FFFD).
    cont = generate(cli, home, config, "Un caf\ufffd pr\ufffds de la", "--no-learn")
    assert "for" in cont and "dure" in cont, cont

    # Empty standard input: said so, nothing learned, success.
    empty = kit.run_input(home, b"", "learn", "--config", str(config), "-")
    assert empty.returncode == 0, empty.stderr
    assert b"Traceback" not in empty.stderr
    assert b"Standard input was empty: nothing to learn." in empty.stdout
    assert kit.stats(home, config)["tokens_learned"] == tokens

    # A missing path: one sentence, non-zero, nothing learned (not even the good file beside it).
    missing = cli.run(home, "learn", "--config", str(config), str(folder / "good.txt"),
                      str(tmp_path / "nowhere.txt"))
    assert missing.returncode != 0
    error = one_error(missing.stderr)
    assert "nowhere.txt does not exist" in error and "nothing was learned" in error, error
    assert kit.stats(home, config)["tokens_learned"] == tokens

    # `memory reset` without --yes is refused and forgets nothing.
    reset = cli.run(home, "memory", "reset", "--config", str(config))
    assert reset.returncode != 0
    assert "--yes" in one_error(reset.stderr)
    assert kit.stats(home, config)["tokens_learned"] == tokens


def test_a_huge_single_line_is_learned(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    line = tmp_path / "line.txt"
    line.write_bytes(b"x" * 8_000_000)  # 8 MB, no space and no newline to cut at
    done = cli.run(home, "learn", "--config", str(config), str(line))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "from 1 message (8.00 MB" in done.stdout, done.stdout
    assert kit.stats(home, config)["tokens_learned"] == learned(done.stdout) > 0


def test_export_reset_import_restores_the_memory(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    notes = tmp_path / "notes.txt"
    notes.write_text(f"{GLACIER}\n{ORCHARD}\n", encoding="utf-8")
    assert cli.run(home, "learn", "--config", str(config), str(notes)).returncode == 0
    before = kit.stats(home, config)
    start, expected = prefix(ORCHARD)
    answer = generate(cli, home, config, start, "--no-learn")
    assert answer.strip().startswith(expected), answer

    saved = tmp_path / "saved.gsm"
    export = cli.run(home, "memory", "export", "--config", str(config), str(saved))
    assert export.returncode == 0, export.stderr
    assert f"Exported {before['entries']:,} entries" in export.stdout
    reset = cli.run(home, "memory", "reset", "--yes", "--config", str(config))
    assert reset.returncode == 0, reset.stderr
    assert kit.stats(home, config)["entries"] == 0

    bogus = tmp_path / "notes.gsm"
    bogus.write_bytes(notes.read_bytes())
    refused = cli.run(home, "memory", "import", "--config", str(config), str(bogus))
    assert refused.returncode != 0
    assert "is not a GyroSI memory export" in one_error(refused.stderr)
    assert kit.stats(home, config)["entries"] == 0

    imported = cli.run(home, "memory", "import", "--config", str(config), str(saved))
    assert imported.returncode == 0, imported.stderr
    after = kit.stats(home, config)
    assert (after["entries"], after["contexts"], after["tokens_learned"]) == (
        before["entries"], before["contexts"], before["tokens_learned"])
    assert generate(cli, home, config, start, "--no-learn") == answer


def test_the_same_input_learned_twice_gives_the_same_file(
    cli: Cli, kit: Kit, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(f"{LIGHTHOUSE}\n{GLACIER}\n" * 3, encoding="utf-8")
    snapshots = []
    for name in ("a", "b"):
        home, config = kit.home(tmp_path / name)
        for _ in range(2):  # learning again folds the same entries again: parities flip back
            assert cli.run(home, "learn", "--config", str(config), str(notes)).returncode == 0
        snapshots.append((home / "memory" / "passive.gsm").read_bytes())
    assert snapshots[0] == snapshots[1] and len(snapshots[0]) > 1000

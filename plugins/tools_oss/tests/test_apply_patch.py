"""functions.apply_patch through the real turn loop: changes inside the workspace, no escapes."""

import errno
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from gyrosi_core.errors import ConfigError
from gyrosi_core.tools import ToolCallError
from gyrosi_tools_oss.patch import make_apply_patch

from .conftest import build, call


def patch(*lines: str) -> dict:
    return {"patch": "\n".join(["*** Begin Patch", *lines, "*** End Patch"])}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def main():\n    return 1\n\n\nprint(main())\n")
    (root / "old.txt").write_text("bye\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious\n")
    (root / "out").symlink_to(outside)  # a folder link leading out
    (root / "victim-link.txt").symlink_to(outside / "victim.txt")  # a file link leading out
    (root / "inner-link.txt").symlink_to(root / "old.txt")  # a link that stays inside
    return root


def run(chat, workspace: Path, payload) -> tuple[str, object]:
    session = chat([call("go", "functions.apply_patch", payload, channel="commentary")],
                   {"functions.apply_patch": {"workspace": str(workspace)}},
                   ["functions.apply_patch"])
    answer = session.ask("go")
    return answer, session


def test_add_update_delete_and_move(chat, workspace):
    answer, session = run(chat, workspace, patch(
        "*** Add File: notes/todo.md",
        "+# Todo",
        "+- ship it",
        "*** Update File: src/app.py",
        "@@ def main():",
        "-    return 1",
        "+    return 2",
        "*** Delete File: old.txt",
    ))
    assert answer == "Done! wrote notes/todo.md, src/app.py; deleted old.txt."
    message = session.tool_messages()[0]
    assert message.author == "functions.apply_patch" and message.channel == "commentary"
    assert (workspace / "notes" / "todo.md").read_text() == "# Todo\n- ship it"
    assert (workspace / "src" / "app.py").read_text() == \
        "def main():\n    return 2\n\n\nprint(main())\n"
    assert not (workspace / "old.txt").exists()

    answer, _ = run(chat, workspace, patch(
        "*** Update File: src/app.py", "*** Move to: src/main.py",
        "@@ def main():", "-    return 2", "+    return 3",
    ))
    assert answer == "Done! wrote src/main.py; deleted src/app.py."
    assert "return 3" in (workspace / "src" / "main.py").read_text()
    assert not (workspace / "src" / "app.py").exists()


def test_a_link_inside_the_workspace_is_fine(chat, workspace):
    answer, _ = run(chat, workspace, patch(
        "*** Update File: inner-link.txt", "-bye", "+hello",
    ))
    assert answer.startswith("Done!")
    assert (workspace / "old.txt").read_text() == "hello\n"


ESCAPES = {
    "absolute add": (patch("*** Add File: /tmp/gyrosi-escape.txt", "+x"), "is an absolute path"),
    "absolute update": (patch("*** Update File: /etc/hostname", "-a", "+b"),
                        "is an absolute path"),
    "home": (patch("*** Add File: ~/gyrosi-escape.txt", "+x"), "is an absolute path"),
    "dotdot add": (patch("*** Add File: ../outside/new.txt", "+x"), "climbs out"),
    "dotdot deep": (patch("*** Add File: src/../../outside/new.txt", "+x"), "climbs out"),
    "dotdot delete": (patch("*** Delete File: ../outside/victim.txt"), "climbs out"),
    "symlink dir add": (patch("*** Add File: out/new.txt", "+x"), "through a symlink"),
    "symlink dir delete": (patch("*** Delete File: out/victim.txt"), "through a symlink"),
    "symlink file update": (patch("*** Update File: victim-link.txt", "-precious", "+pwned"),
                            "through a symlink"),
    "symlink file delete": (patch("*** Delete File: victim-link.txt"), "through a symlink"),
    "move out": (patch("*** Update File: old.txt", "*** Move to: ../outside/moved.txt",
                       "-bye", "+bye"), "climbs out"),
    "move through link": (patch("*** Update File: old.txt", "*** Move to: out/moved.txt",
                                "-bye", "+bye"), "through a symlink"),
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_escapes_are_refused_and_change_nothing(chat, workspace, name):
    payload, reason = ESCAPES[name]
    # A good change rides along: a refused patch must not apply it either.
    payload = {"patch": payload["patch"].replace(
        "*** Begin Patch", "*** Begin Patch\n*** Add File: innocent.txt\n+ok")}
    before = snapshot(workspace.parent)
    answer, _ = run(chat, workspace, payload)
    assert answer.startswith("Error: refused: ") and reason in answer, answer
    assert answer.endswith("; nothing was changed.")
    assert "precious" not in answer
    assert snapshot(workspace.parent) == before
    assert not Path("/tmp/gyrosi-escape.txt").exists()


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (p.read_text() if p.is_file() else "<dir>")
            for p in sorted(root.rglob("*")) if not p.is_symlink() or p.is_file()}


@pytest.mark.parametrize("payload,expected", [
    ("*** Begin Patch\n*** End Patch", "arguments are not valid JSON"),  # raw text, not JSON
    ({"patch": 5}, "`patch` must be a string"),
    ({"diff": "x"}, "bad arguments for functions.apply_patch"),
    ([1, 2], "arguments must be a JSON object"),
    ({"patch": "hello"}, "Error applying patch: Patch text must start with *** Begin Patch"),
    (patch("*** Update File: missing.txt", "-a", "+b"), "`missing.txt` does not exist"),
    (patch("*** Update File: old.txt", "-not there", "+b"), "Invalid context"),
    (patch("*** Add File: old.txt", "+again"), "`old.txt` already exists"),
])
def test_malformed_calls_answer_the_model(chat, workspace, payload, expected):
    before = snapshot(workspace.parent)
    answer, _ = run(chat, workspace, payload)
    assert answer.startswith("Error") and expected in answer, answer
    assert snapshot(workspace.parent) == before


def test_workspace_defaults_to_the_current_directory(chat, workspace, monkeypatch):
    monkeypatch.chdir(workspace / "src")
    session = chat([call("go", "functions.apply_patch", patch("*** Add File: here.txt", "+hi"))],
                   {}, ["functions.apply_patch"])
    assert session.ask("go") == "Done! wrote here.txt."
    assert (workspace / "src" / "here.txt").read_text() == "hi"


def test_missing_workspace_is_a_start_up_error(harmony_encoding, gyrosi_home, tmp_path):
    engine = build([], {"functions.apply_patch": {"workspace": str(tmp_path / "nope")}},
                   ["functions.apply_patch"])
    with pytest.raises(ConfigError, match="The apply_patch workspace .* is not a directory."):
        engine.new_conversation()
    engine.close()


def test_a_patch_failing_half_way_changes_nothing(chat, workspace):
    before = snapshot(workspace.parent)
    # The first changes could be made; the last cannot (its folder would be a file).
    answer, _ = run(chat, workspace, patch(
        "*** Add File: first.txt", "+one",
        "*** Update File: src/app.py", "@@ def main():", "-    return 1", "+    return 9",
        "*** Delete File: old.txt",
        "*** Add File: bread.txt/../src/app.py/x.txt", "+two",
    ))
    assert answer.startswith("Error") and answer.endswith("nothing was changed."), answer
    assert snapshot(workspace.parent) == before


def test_a_failure_while_staging_rolls_back(chat, workspace, monkeypatch):
    """The disk fills up while the second new content is written: nothing lands."""
    before = snapshot(workspace.parent)
    real_mkstemp, calls = tempfile.mkstemp, []

    def failing(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", failing)
    answer, _ = run(chat, workspace, patch(
        "*** Add File: new/folder/first.txt", "+one",
        "*** Update File: src/app.py", "@@ def main():", "-    return 1", "+    return 9",
    ))
    monkeypatch.undo()
    assert answer == "Error applying patch: no space left on device; nothing was changed."
    assert snapshot(workspace.parent) == before  # the new folders went too


def test_a_failure_while_committing_rolls_back(chat, workspace, monkeypatch):
    """The disk refuses the third rename of the commit: the two done are undone."""
    before = snapshot(workspace.parent)
    real_rename, calls = os.rename, []

    def failing(src, dst):
        calls.append((src, dst))
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    answer, _ = run(chat, workspace, patch(
        "*** Add File: a.txt", "+a",
        "*** Update File: src/app.py", "@@ def main():", "-    return 1", "+    return 9",
        "*** Delete File: old.txt",
    ))
    monkeypatch.undo()
    assert answer == "Error applying patch: input/output error; nothing was changed."
    assert len(calls) > 3  # the undo renamed back
    assert snapshot(workspace.parent) == before
    assert not [p for p in workspace.rglob(".*") if "gyrosi" in p.name]  # no staged leftovers


def test_a_fifo_or_device_is_refused_without_opening_it(chat, workspace):
    os.mkfifo(workspace / "pipe.txt")  # opening it for reading would wait for a writer forever
    (workspace / "null.txt").symlink_to("/dev/null")
    cases = [
        (patch("*** Update File: pipe.txt", "-a", "+b"), "`pipe.txt` is not a regular file"),
        (patch("*** Delete File: pipe.txt"), "`pipe.txt` is not a regular file"),
        (patch("*** Add File: pipe.txt", "+b"), "`pipe.txt` is not a regular file"),
        (patch("*** Update File: src", "-a", "+b"), "`src` is a folder"),
        (patch("*** Update File: null.txt", "-a", "+b"), "through a symlink"),
    ]
    for payload, reason in cases:
        answer, _ = run(chat, workspace, payload)
        assert answer.startswith("Error: refused: ") and reason in answer, answer
    assert stat.S_ISFIFO((workspace / "pipe.txt").lstat().st_mode)


def test_deleting_a_symlink_deletes_the_link(chat, workspace):
    answer, _ = run(chat, workspace, patch("*** Delete File: inner-link.txt"))
    assert answer == "Done! deleted inner-link.txt."
    assert not os.path.lexists(workspace / "inner-link.txt")
    assert (workspace / "old.txt").read_text() == "bye\n"  # its target stays


@pytest.mark.parametrize("lines", [
    ("*** Add File: twice.txt", "+one", "*** Add File: ./twice.txt", "+two"),
    ("*** Add File: twice.txt", "+one", "*** Add File: src/../twice.txt", "+two"),
    ("*** Update File: old.txt", "*** Move to: moved.txt", "-bye", "+hi",
     "*** Add File: moved.txt", "+two"),
    ("*** Update File: inner-link.txt", "-bye", "+one", "*** Update File: old.txt", "-bye",
     "+two"),
])
def test_a_file_named_twice_is_refused(chat, workspace, lines):
    before = snapshot(workspace.parent)
    answer, _ = run(chat, workspace, patch(*lines))
    assert answer.startswith("Error: refused: ") and "is named twice in the patch" in answer, \
        answer
    assert snapshot(workspace.parent) == before


def test_loops_and_deep_paths_are_refusals(workspace):
    (workspace / "loop-a").symlink_to("loop-b")
    (workspace / "loop-b").symlink_to("loop-a")
    apply = make_apply_patch({"workspace": str(workspace)}).fn  # too long a call for the stub
    deep = "/".join(["d"] * 3000) + "/x.txt"  # longer than PATH_MAX
    cases = [
        (patch("*** Update File: loop-a", "-a", "+b"), "Error: refused: `loop-a` cannot be"),
        (patch("*** Add File: loop-a/x.txt", "+b"), "Error: refused: `loop-a/x.txt` cannot be"),
        (patch(f"*** Add File: {deep}", "+b"), "cannot be read (file name too long)"),
        (patch(f"*** Update File: {deep}", "-a", "+b"), "cannot be read (file name too long)"),
    ]
    for payload, expected in cases:
        with pytest.raises(ToolCallError) as refused:
            apply(payload["patch"])
        answer = str(refused.value)
        assert answer.startswith("Error") and expected in answer, answer
    assert not (workspace / "d").exists()
    # About 2,000 folders deep but within PATH_MAX, with the workspace's own path (longer under
    # pytest-xdist) and the temporary file's name beside the new file: made without recursion.
    room = os.pathconf(workspace, "PC_PATH_MAX") - len(str(workspace)) - 64
    fine = "d/" * (room // 2)
    assert fine.count("/") > 1900
    try:
        assert apply(patch(f"*** Add File: {fine}x.txt", "+deep but fine")["patch"]) \
            == f"Done! wrote {fine}x.txt."
    finally:  # too deep for shutil.rmtree (pytest's clean-up), which recurses
        subprocess.run(["rm", "-rf", str(workspace / "d")], check=True)


def test_a_changed_file_keeps_its_mode_and_owner(chat, workspace):
    script = workspace / "run.sh"
    script.write_text("echo one\n")
    script.chmod(0o750)
    owner = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(script, *owner)
    answer, _ = run(chat, workspace, patch("*** Update File: run.sh", "-echo one", "+echo two"))
    assert answer == "Done! wrote run.sh."
    info = script.stat()
    assert script.read_text() == "echo two\n"
    assert stat.S_IMODE(info.st_mode) == 0o750 and (info.st_uid, info.st_gid) == owner


def test_through_the_test_kits_scripted_turn(scripted_turn, workspace):
    """The core's test kit drives the tool the way a model would, with no stub script."""
    from gyrosi_tools_oss import plugin

    text = "*** Begin Patch\n*** Add File: kit.txt\n+made by the kit\n*** End Patch"
    turn = scripted_turn(plugin, call=("functions.apply_patch", {"patch": text}),
                         final="the tool said: {tool}",
                         config={"tools": {"functions.apply_patch": {"workspace": str(workspace)}}})
    assert turn.finals == ["the tool said: Done! wrote kit.txt."]
    assert (workspace / "kit.txt").read_text() == "made by the kit"

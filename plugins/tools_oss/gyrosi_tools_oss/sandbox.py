"""Confinement for the python tool's processes.

With bubblewrap (`bwrap`) the kernel runs in its own PID namespace (every descendant dies with
it, `setsid` or not), dies with the process that started it, has no network unless allowed,
sees the system read-only, sees neither the user's home, `GYROSI_HOME`, the temp folders nor
`/run`, can write only its scratch folder, starts with a cleared environment, and has limits on
memory and process count (run as root, it drops to `nobody`, or to the owner of a working folder
the user chose: the kernel does not apply RLIMIT_NPROC to root). Without bwrap the fallback is a
process-group kill, a scrubbed environment and the same rlimits.

Each kernel owns a scratch folder `gyrosi-python-*` in the temp folder, locked (flock on the
folder) while its owner lives, so the next start can remove the leftovers of a killed one.
"""

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRATCH_PREFIX = "gyrosi-python-"
NOBODY = (65534, 65534)  # uid and gid the kernel drops to when the server runs as root
# Variables a program needs to behave; everything else (API keys, tokens, GYROSI_*) stays out.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "USER", "LOGNAME")
# Hidden inside the sandbox (each becomes an empty tmpfs): homes, temp folders, runtime sockets.
HIDDEN = ("/home", "/root", "/tmp", "/var/tmp", "/run", "/mnt", "/media", "/srv")
# Where the sandbox's own /tmp is (writable, private, gone with the sandbox); HOME points there.
SANDBOX_TMP = "/tmp"


def scrubbed_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.setdefault("PATH", os.defpath)
    return env


def sweep(folder: Path | None = None) -> list[Path]:
    """Remove scratch folders whose owner is gone (their lock can be taken)."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # not ours to read, not a folder, or already gone
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its owner is alive
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


class Scratch:
    """`root/work` (the code's folder), `root/run` (connection file, sockets, scripts)."""

    def __init__(self, owner: tuple[int, int] | None = None) -> None:
        sweep()
        # Made under a name the sweep does not match, locked, then renamed: no sweep can take
        # a folder between its creation and its lock.
        staging = Path(tempfile.mkdtemp(prefix="." + SCRATCH_PREFIX))
        self._fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.root = staging.with_name(staging.name[1:])
        staging.rename(self.root)
        self.work = self.root / "work"
        self.run = self.root / "run"
        for path in (self.work, self.run):
            path.mkdir(mode=0o700)  # the sandbox reaches them through its own view of /tmp
            if owner is not None:
                os.chown(path, *owner)

    def remove(self) -> None:
        if self._fd < 0:
            return
        shutil.rmtree(self.root, ignore_errors=True)
        os.close(self._fd)
        self._fd = -1


def drop_to(cwd: Path | None) -> tuple[int, int] | None:
    """The (uid, gid) the kernel becomes, when we are root: the kernel applies RLIMIT_NPROC to
    anyone but root. `nobody` for a scratch folder; for a folder the user chose, its owner (who
    can work in it), or None (stay root, without capabilities) when root owns it."""
    if os.geteuid() != 0:
        return None
    if cwd is None:
        return NOBODY
    info = cwd.stat()
    return (info.st_uid, info.st_gid) if info.st_uid != 0 else None


def _bwrap_base(bwrap: str, *, network: bool, drop: bool) -> list[str]:
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        argv.append("--unshare-net")
    if drop:  # just enough to change user; gone once the kernel has
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return argv + ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]


@functools.cache
def bwrap_problem(bwrap: str = "bwrap") -> str | None:
    """Why a sandbox cannot be made here (None: it can): bwrap missing, or refused by the
    kernel or container (no namespaces)."""
    path = shutil.which(bwrap)
    if path is None:
        return f"{bwrap} (Debian/Ubuntu package bubblewrap) is not installed"
    try:
        probe = _bwrap_base(path, network=False, drop=os.geteuid() == 0)
        result = subprocess.run([*probe, "--", "true"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} did not run ({exc})"
    if result.returncode:
        said = result.stderr.strip().splitlines()
        return f"{bwrap} cannot make a sandbox here ({said[-1] if said else result.returncode})"
    return None


def _runtime_paths(exposed_never: list[Path]) -> list[tuple[str, str]]:
    """What the kernel needs to run, read-only: the interpreter, its libraries, sys.path (for
    editable installs) — never a folder that holds the home or GYROSI_HOME."""
    import gyrosi_tools_oss

    wanted = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
              *(p for p in sys.path if p), str(Path(gyrosi_tools_oss.__file__).parents[1])]
    pairs: dict[str, str] = {}
    for entry in wanted:
        path = Path(entry).absolute()
        if not path.exists() or any(path == h or path in h.parents for h in exposed_never):
            continue
        for dest in {str(path), os.path.realpath(path)}:
            pairs.setdefault(dest, os.path.realpath(path))
    # A folder inside another is covered by it.
    return sorted((src, dest) for dest, src in pairs.items()
                  if not any(dest != other and Path(other) in Path(dest).parents
                             for other in pairs))


def bwrap_argv(bwrap: str, *, writable: list[Path], cwd: Path, network: bool, drop: bool,
               gyrosi_home: Path | None) -> list[str]:
    """The bwrap command line a kernel command is appended to (after `--`)."""
    home = Path.home()
    secret = [home, *([gyrosi_home] if gyrosi_home else [])]
    argv = _bwrap_base(shutil.which(bwrap) or bwrap, network=network, drop=drop)
    hidden = [Path(h) for h in sorted({*HIDDEN, str(home)}, key=len)
              if os.path.isdir(h) and not os.path.islink(h)]
    for path in hidden:
        argv += [*(["--perms", "1777"] if str(path) == SANDBOX_TMP else []), "--tmpfs", str(path)]
    made: set[Path] = set()

    def reach(dest: Path) -> list[str]:
        """bwrap makes missing folders on a tmpfs 0700; the kernel (nobody, as root) must pass
        through them."""
        steps = []
        for folder in reversed(dest.parents):
            if folder not in made and any(h in folder.parents for h in hidden):
                made.add(folder)
                steps += ["--perms", "0755", "--dir", str(folder)]
        return steps

    for src, dest in _runtime_paths(secret):
        argv += [*reach(Path(dest)), "--ro-bind", src, dest]
    for path in writable:
        argv += [*reach(path), "--bind", str(path), str(path)]
    # Hidden again, last, should a library path or a chosen cwd hold it (unless it holds cwd).
    if gyrosi_home and gyrosi_home.is_dir() and not any(
            path == gyrosi_home or gyrosi_home in path.parents for path in writable):
        argv += ["--tmpfs", str(gyrosi_home)]
    argv += ["--chdir", str(cwd), "--clearenv"]
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
           "HOME": SANDBOX_TMP, "TMPDIR": SANDBOX_TMP, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv + ["--"]

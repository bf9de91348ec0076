"""The `python` tool: gpt-oss's PythonTool, run in a local Jupyter kernel we own.

gpt-oss's stateful path (`dangerously_use_local_jupyter`) starts a kernel with no memory limit,
waits per message rather than per call, and leaves a runaway cell running after its timeout.
Here the kernel is started for one conversation with a memory limit, every call has a deadline
after which the kernel is interrupted (restarted if that does not stop it), output is cut to a
configured size, and the kernel is shut down when the conversation ends; it runs confined
(`sandbox.py`: bubblewrap, or a weaker fallback that says so). gpt-oss's docker path is offered
as is; the uv path gets the same timeout, memory and process limits, scrubbed environment and
truncation.
"""

import asyncio
import atexit
import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from gpt_oss.tools.python_docker.docker_tool import PythonTool
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from openai_harmony import Message
from pydantic import BaseModel, ConfigDict, Field

from gyrosi_core.config import validate_section
from gyrosi_core.errors import ConfigError, GyrosiError
from gyrosi_core.home import gyrosi_home

from . import sandbox

log = logging.getLogger(__name__)

GPT_OSS_BACKENDS = {"jupyter": "dangerously_use_local_jupyter", "docker": "docker",
                    "uv": "dangerously_use_uv"}
INTERRUPT_GRACE = 5.0  # seconds a kernel gets to stop after an interrupt before it is restarted
NO_OUTPUT = ("[WARN] No output available. Use print() to output anything to stdout to receive "
             "the output")
_warned = False


class PythonConfig(BaseModel):
    """The `tools.python` config section."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["jupyter", "docker", "uv"] = "jupyter"
    timeout: float = Field(default=30.0, gt=0)  # seconds per call
    max_output_chars: int = Field(default=10000, gt=0)
    memory_limit_mb: int | None = Field(default=2048, gt=0)  # address space; None: no limit
    cwd: Path | None = None  # default: a temporary directory per conversation
    startup_timeout: float = Field(default=60.0, gt=0)
    sandbox: Literal["auto", "bwrap", "off"] = "auto"  # auto: bwrap where it can run
    network: bool = False  # inside the sandbox; the fallback cannot take it away
    max_processes: int | None = Field(default=256, gt=0)  # RLIMIT_NPROC; None: inherited


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output truncated: {len(text) - limit} more characters]"


def limiter(settings: "PythonConfig") -> Callable[[], None]:
    """A preexec function that caps the child's address space and process count (soft and hard:
    no way back up without privileges)."""

    def apply() -> None:
        if settings.memory_limit_mb:
            limit = settings.memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if settings.max_processes:
            resource.setrlimit(resource.RLIMIT_NPROC, (settings.max_processes,) * 2)

    return apply


class Confinement:
    """How this tool's processes are confined, and the scratch folder they get."""

    def __init__(self, settings: "PythonConfig") -> None:
        self.settings = settings
        problem = None
        if settings.sandbox != "off" and settings.backend == "jupyter":
            problem = sandbox.bwrap_problem()
            if problem and settings.sandbox == "bwrap":
                raise ConfigError(f"The python tool's sandbox cannot start: {problem}.")
        self.bwrap = settings.backend == "jupyter" and settings.sandbox != "off" and not problem
        self.why_not = problem or (
            "tools.python.sandbox is off" if settings.sandbox == "off"
            else f"the sandbox is for the jupyter backend, not {settings.backend}")
        chosen = settings.cwd.expanduser().absolute() if settings.cwd is not None else None
        if chosen is not None and not chosen.is_dir():
            raise ConfigError(f"The python tool's directory {chosen} is not a directory.")
        self.user = sandbox.drop_to(chosen) if self.bwrap else None
        # Root keeps the scratch folder; the kernel gets work/ and run/ as whoever it becomes.
        self.scratch = sandbox.Scratch(owner=self.user)
        self.cwd = chosen or self.scratch.work

    def describe(self) -> str:
        if self.settings.backend == "docker":
            return "in gpt-oss's docker container"
        if self.bwrap:
            said = "bubblewrap sandbox, network " + ("on" if self.settings.network else "off")
            if os.geteuid() == 0 and self.user is None and self.settings.max_processes:
                said += (", as root (its folder is root's), so without a process limit: "
                         "RLIMIT_NPROC does not bind root")
            return said
        return (f"NO SANDBOX ({self.why_not}): the code runs as you, with your files and "
                f"network; only a process-group kill, a scrubbed environment and rlimits apply")

    def kernel_argv(self) -> list[str]:
        argv = [sys.executable, "-m", "gyrosi_tools_oss.kernel", "-f", "{connection_file}",
                "--HistoryManager.enabled=False"]
        if self.settings.memory_limit_mb:
            argv.append(f"--memory-mb={self.settings.memory_limit_mb}")
        if self.settings.max_processes:
            argv.append(f"--max-processes={self.settings.max_processes}")
        if not self.bwrap:
            return argv
        if self.user is not None:
            argv += [f"--uid={self.user[0]}", f"--gid={self.user[1]}"]
        try:
            home: Path | None = gyrosi_home()
        except GyrosiError:
            home = None
        writable = [self.scratch.run, self.cwd]
        return [*sandbox.bwrap_argv("bwrap", writable=writable, cwd=self.cwd,
                                    network=self.settings.network, drop=self.user is not None,
                                    gyrosi_home=home), *argv]

    def close(self) -> None:
        self.scratch.remove()


class _ThisPython(KernelSpecManager):
    """Always this interpreter's ipykernel (whatever kernelspecs the user has installed),
    started through our launcher for the limits, inside the sandbox when there is one."""

    confinement: Confinement

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        from ipykernel.kernelspec import get_kernel_dict

        spec = get_kernel_dict()
        spec["argv"] = self.confinement.kernel_argv()
        # A signal to bwrap would not reach the kernel (its own session and PID namespace):
        # ipykernel interrupts itself when asked on the control channel.
        spec["interrupt_mode"] = "message" if self.confinement.bwrap else "signal"
        return KernelSpec(resource_dir="", **spec)


class _Output:
    """Collects a cell's output from IOPub messages, keeping at most `limit` characters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.dropped += len(text)
            return
        self.parts.append(text[:room])
        self.size += min(len(text), room)
        self.dropped += max(0, len(text) - room)

    def hook(self, msg: dict[str, Any]) -> None:
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "stream":
            self.add(content.get("text", ""))
        elif kind == "error":
            self.add("\n".join(content.get("traceback") or
                               [f"{content.get('ename')}: {content.get('evalue')}"]) + "\n")
        elif kind in ("execute_result", "display_data"):
            if text := content.get("data", {}).get("text/plain"):
                self.add(text if text.endswith("\n") else text + "\n")

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[output truncated: {self.dropped} more characters]"
        return out


class JupyterKernel:
    """One ipykernel process: stateful across calls, with a deadline per call."""

    def __init__(self, settings: PythonConfig, confinement: Confinement) -> None:
        self.settings = settings
        self.cwd = confinement.cwd
        specs = _ThisPython()
        specs.confinement = confinement
        # Unix sockets in the scratch folder rather than TCP ports: they reach into the
        # sandbox's network namespace, and no other local user can connect.
        self.km = KernelManager(
            kernel_spec_manager=specs, kernel_name="gyrosi-python", transport="ipc",
            connection_file=str(confinement.scratch.run / "kernel.json"),
        )
        self.km.write_connection_file()
        if confinement.user is not None:
            os.chown(self.km.connection_file, *confinement.user)
        self._start()

    def _start(self) -> None:
        self.km.start_kernel(
            cwd=str(self.cwd),
            env=sandbox.scrubbed_env(),
            stdout=subprocess.DEVNULL,  # output reaches the model through IOPub, not the terminal
            stderr=subprocess.DEVNULL,
        )
        self._connect()

    def _connect(self) -> None:
        self.client = self.km.blocking_client()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=self.settings.startup_timeout)
        except RuntimeError:
            self.close()
            raise
        # Plain tracebacks: colour codes are noise to the model.
        self.client.execute_interactive(
            "get_ipython().run_line_magic('colors', 'nocolor')", silent=True,
            output_hook=lambda msg: None, timeout=self.settings.startup_timeout,
        )

    @property
    def pid(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None)
        return getattr(process, "pid", None)

    def execute(self, code: str, *, timeout: float | None = None) -> str:
        """Run `code`; output and errors as text. A call past its deadline is interrupted."""
        timeout = timeout or self.settings.timeout
        output = _Output(self.settings.max_output_chars)
        try:
            self.client.execute_interactive(
                code, allow_stdin=False, stop_on_error=False, timeout=timeout,
                output_hook=output.hook,
            )
        except TimeoutError:
            return output.text() + self._stop_runaway(timeout)
        return output.text() or NO_OUTPUT

    def _stop_runaway(self, timeout: float) -> str:
        said = f"[ERROR] The code ran longer than the {timeout:g}-second limit and was stopped"
        self.km.interrupt_kernel()
        try:  # an empty cell answers once the interrupted one has ended
            self.client.execute_interactive(
                "", silent=True, stop_on_error=False, timeout=INTERRUPT_GRACE,
                output_hook=lambda msg: None,
            )
            return f"\n{said}; variables defined before the call are kept."
        except TimeoutError:
            log.info("python kernel ignored the interrupt; restarting it")
        self.client.stop_channels()
        self.km.restart_kernel(now=True)  # same command, cwd and limits; a new process
        self._connect()
        return f"\n{said}; the kernel had to be restarted, so every variable and import is lost."

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)


def run_with_uv(script: str, settings: PythonConfig, confinement: Confinement) -> str:
    """gpt-oss's uv path (a fresh `uv run --no-project python` per call), with a deadline that
    stops the whole process group (uv's python is a child of uv), a scrubbed environment and
    rlimits. The script lies in the scratch folder, which the next start sweeps."""
    path = confinement.scratch.run / "script.py"
    path.write_text(script, encoding="utf-8")
    process = subprocess.Popen(
        ["uv", "run", "--no-project", "python", str(path)], cwd=confinement.cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=limiter(settings), env=sandbox.scrubbed_env(),
    )
    try:
        output, _ = process.communicate(timeout=settings.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return truncate(output, settings.max_output_chars) + (
            f"\n[ERROR] The code ran longer than the {settings.timeout:g}-second limit and "
            f"was stopped."
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # what it left in its group goes too
            os.killpg(process.pid, signal.SIGKILL)
    return truncate(output, settings.max_output_chars) if output.strip() else NO_OUTPUT


class Python(PythonTool):
    """gpt-oss's PythonTool with the kernel, timeout and truncation described above."""

    def __init__(self, settings: PythonConfig) -> None:
        # gpt-oss would start an unlimited kernel of its own for the jupyter backend; build the
        # tool as for docker (which starts nothing) and hand it our kernel instead.
        super().__init__(execution_backend="docker")
        self.settings = settings
        self._execution_backend = GPT_OSS_BACKENDS[settings.backend]
        if settings.sandbox == "bwrap" and settings.backend != "jupyter":
            raise ConfigError(f"The python tool's sandbox runs the jupyter backend, not "
                              f"{settings.backend}; set tools.python.sandbox to \"auto\".")
        if settings.backend == "uv" and shutil.which("uv") is None:
            raise ConfigError("The python tool's uv backend needs `uv` on PATH; install uv.")
        if settings.backend == "docker":
            _check_docker()
        self.confinement = Confinement(settings)
        self.cwd = self.confinement.cwd
        if settings.backend == "jupyter":
            self._execution_lock = asyncio.Lock()
            try:
                kernel = JupyterKernel(settings, self.confinement)
            except BaseException:
                self.confinement.close()
                raise
            self._jupyter_session = kernel  # type: ignore[assignment]
        _open.add(self)

    @property
    def instruction(self) -> str:
        text = super().instruction.replace("120.0 seconds", f"{self.settings.timeout:g} seconds")
        if self.settings.backend == "uv":  # a fresh process per call, like gpt-oss's docker text
            text = text.replace("a stateless docker container", "a fresh Python process")
        return text

    async def _process(self, message: Message):  # type: ignore[no-untyped-def]
        if self.settings.backend == "uv":
            script = message.content[0].text  # type: ignore[union-attr]
            output = run_with_uv(script, self.settings, self.confinement)
            yield self._make_response(output, channel=message.channel)
            return
        async for m in super()._process(message):
            yield m

    def _make_response(self, output: str, channel: str | None = None) -> Message:
        if self.settings.backend == "docker":  # the other paths cap output themselves
            output = truncate(output, self.settings.max_output_chars)
        return super()._make_response(output, channel)

    def close(self) -> None:
        super().close()
        self._jupyter_session = None  # type: ignore[assignment]
        if confinement := getattr(self, "confinement", None):  # None: refused at start
            confinement.close()
        _open.discard(self)


# Tools still open when the interpreter exits (a server stopped by SIGTERM) shut their kernels
# down; a kill -9 is covered by --die-with-parent, and the next start sweeps the scratch folder.
_open: "weakref.WeakSet[Python]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for tool in list(_open):
        with contextlib.suppress(Exception):
            tool.close()


def _check_docker() -> None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        raise ConfigError(
            f"The python tool's docker backend cannot reach Docker ({type(exc).__name__}); "
            f"start Docker or choose tools.python.backend \"jupyter\"."
        ) from exc


def make_python(config: dict[str, Any]) -> Python:
    """Run Python code in a stateful Jupyter kernel (off unless enabled)."""
    global _warned
    settings = validate_section(PythonConfig, config, "tools.python")
    tool = Python(settings)
    if not _warned:
        _warned = True
        limit = f"{settings.memory_limit_mb} MB" if settings.memory_limit_mb else "no limit"
        log.warning(
            "python tool enabled: model-written code runs on this machine (%s backend, %s, %gs "
            "per call, memory %s, directory %s).", settings.backend,
            tool.confinement.describe(), settings.timeout, limit, tool.cwd
        )

    return tool

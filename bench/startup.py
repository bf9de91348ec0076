"""Start-up time of the `gyrosi` CLI: the median of 5 runs of each command, beside a bare
`python -c pass` measured in the same run (the floor any Python CLI pays), against its target.

    .venv/bin/python bench/startup.py [--runs 5] [--backend gyrosi --home ~/.local/share/gyrosi]

`run` is timed to its prompt: the chat is started under a pseudo-terminal (pexpect), by default
on the stub backend with a temporary home, and the clock stops when `>>>` appears (the backend
keeps opening in the background). With `--backend gyrosi`, give a warm `--home` (one whose
atlas is built), or the warm-up run builds it first.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

TARGETS = {"python -c pass": None, "gyrosi --help": 0.5, "gyrosi plugins": 1.0,
           "gyrosi run (prompt shown)": 2.0}


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def run_to_prompt(env: dict[str, str], backend: str) -> float:
    import pexpect

    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-m", "gyrosi_core", "run", "--backend", backend,
                                           "--no-log"], env=env, encoding="utf-8", timeout=120)
    child.expect(">>>")
    elapsed = time.perf_counter() - started
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", default="stub", help="backend `run` opens (default stub)")
    parser.add_argument("--home", help="GYROSI_HOME to use (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or scratch
        env = {**os.environ, "GYROSI_HOME": home, "TERM": "xterm-256color",
               "PROMPT_TOOLKIT_NO_CPR": "1"}
        gyrosi = [sys.executable, "-m", "gyrosi_core"]
        cases: dict[str, Callable[[], float]] = {
            "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env),
            "gyrosi --help": lambda: timed([*gyrosi, "--help"], env),
            "gyrosi plugins": lambda: timed([*gyrosi, "plugins"], env),
            "gyrosi run (prompt shown)": lambda: run_to_prompt(env, args.backend),
        }
        run_to_prompt(env, args.backend)  # warm the home (vocabulary cache) and the OS caches
        print(f"{'command':28} {'median s':>9} {'target s':>9}  runs")
        for name, case in cases.items():
            times = [case() for _ in range(args.runs)]
            target = TARGETS[name]
            verdict = "" if target is None else ("  ok" if statistics.median(times) <= target
                                                 else "  OVER")
            shown = "-" if target is None else f"{target:.2f}"
            runs = " ".join(f"{t:.2f}" for t in times)
            print(f"{name:28} {statistics.median(times):9.3f} {shown:>9}  {runs}{verdict}")


if __name__ == "__main__":
    main()

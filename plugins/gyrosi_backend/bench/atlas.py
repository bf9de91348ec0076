"""Atlas benchmark: build time per phase and in total, peak RSS, load, verify, and T vs lookups.

    python plugins/gyrosi_backend/bench/atlas.py [--runs 3]

Each build runs in a fresh subprocess and home so its peak RSS is its own. Prints medians.
Targets (GYROSI_ENGINE.md §6): build <= 60 s with peak memory <= 4 GB, load <= 1 s, verify <= 10 s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from gyrosi_engine.atlas import AtlasPaths, build_atlas
from pathlib import Path
t = time.perf_counter()
manifest, _ = build_atlas(AtlasPaths(Path(sys.argv[1])))
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"wall": wall, "peak": peak, "phases": manifest["phase_seconds"],
                  "total": manifest["build_seconds"]}))
"""


def build_once(home: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(home)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def stream_rates(atlas, n: int) -> tuple[float, float, float]:
    """Direct T on Python ints versus epistemology lookups, over the same intron stream."""
    from gyrosi_engine import physics

    introns = os.urandom(n)
    state = physics.ARCHETYPE
    t = time.perf_counter()
    for i in introns:
        state = physics.T(state, i)
    direct = n / (time.perf_counter() - t)
    table = atlas.epistemology
    index = atlas.archetype_index
    t = time.perf_counter()
    for i in introns:
        index = table[index, i]
    numpy_lookup = n / (time.perf_counter() - t)
    flat = atlas.successors
    index = atlas.archetype_index
    t = time.perf_counter()
    for i in introns:
        index = flat[(index << 8) | i]
    lookup = n / (time.perf_counter() - t)
    assert atlas.state_of(int(index)) == state
    return direct, numpy_lookup, lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream", type=int, default=1_000_000, help="introns for the T test")
    args = parser.parse_args()

    from gyrosi_engine.atlas import Atlas, AtlasPaths, verify

    with tempfile.TemporaryDirectory() as tmp:
        builds = []
        for run in range(args.runs):
            home = Path(tmp) / f"home{run}"
            home.mkdir()
            builds.append(build_once(home))
            if run:  # keep one atlas on disk for the load and verify figures
                import shutil

                shutil.rmtree(home)
        paths = AtlasPaths(Path(tmp) / "home0")
        loads, verifies = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            atlas = Atlas.load(paths)
            atlas.index_of(atlas.state_of(0))  # include the half -> index table
            loads.append(time.perf_counter() - t)
        for _ in range(args.runs):
            t = time.perf_counter()
            verify(paths)
            verifies.append(time.perf_counter() - t)
        direct, numpy_lookup, lookup = stream_rates(atlas, args.stream)

    med = statistics.median
    print(f"atlas benchmark: {args.runs} runs, medians (python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus)")
    for phase in builds[0]["phases"]:
        print(f"  build phase {phase:<13} {med(b['phases'][phase] for b in builds):7.2f} s")
    print(f"  build total (manifest)    {med(b['total'] for b in builds):7.2f} s   target <= 60 s")
    print(f"  build wall (process)      {med(b['wall'] for b in builds):7.2f} s")
    print(f"  build peak RSS            {med(b['peak'] for b in builds) / 2**30:7.2f} GiB "
          f"target <= 4 GB")
    print(f"  load (mmap + checks)      {med(loads):7.3f} s   target <= 1 s")
    print(f"  verify                    {med(verifies):7.2f} s   target <= 10 s")
    print(f"  T direct (python ints)    {direct / 1e6:7.2f} M introns/s")
    print(f"  lookup, numpy scalar      {numpy_lookup / 1e6:7.2f} M introns/s")
    print(f"  lookup, Atlas.successors  {lookup / 1e6:7.2f} M introns/s "
          f"(ratio lookup/direct {lookup / direct:.2f})")


if __name__ == "__main__":
    main()

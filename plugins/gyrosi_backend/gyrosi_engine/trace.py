"""The physics trace the backend puts in its `analysis` message."""

from collections import Counter

from .engine import Engine
from .generate import LEVELS, Trace
from .learn import PathState

HALTS = {"end": "a learned end of message", "length": "the token limit",
         "paragraph": "the end of a paragraph",
         "exhausted": "the recovery ladder ran out",
         "loop": "a loop: the path came back to a context it had already followed", "": "—"}


def _state(engine: Engine, index: int) -> str:
    atlas = engine.atlas
    return (f"state 0x{int(atlas.ontology[index]):012x} (index {index}), orbit "
            f"{int(atlas.phenomenology[index])} of {int(atlas.orbit_sizes[index]):,} states, "
            f"theta {float(atlas.theta[index]):.4f} rad")


def plan_line(engine: Engine, at: PathState, phase: int) -> str:
    """Where the walk starts, for the analysis written before the answer streams."""
    line = f"start: {_state(engine, at.path[-1])}"
    if phase >= 0:
        line += f"; prompt read in phase 0x{phase:06x} (the state bits it kept)"
    return line


def describe(engine: Engine, at: PathState, trace: Trace, answer: list[int]) -> str:
    lines = [f"start: {_state(engine, at.path[-1])}"]
    if trace.phase >= 0:
        lines.append(f"prompt read in phase 0x{trace.phase:06x} (the state bits it kept), which "
                     f"reaches a deeper learned context than reading from the archetype")
    steps = trace.steps
    if steps:
        depths = Counter(s.depth for s in steps if s.level == 0)
        levels = Counter(LEVELS[s.level] for s in steps if s.level > 0)
        used = ", ".join(f"depth {d} x{n}" for d, n in sorted(depths.items(), reverse=True))
        ladder = ", ".join(f"{name} x{n}" for name, n in levels.items()) or "not needed"
        considered = [s.candidates for s in steps]
        first = steps[0]
        lines += [
            f"first step: level {LEVELS[first.level]}"
            + (f" at depth {first.depth}" if first.level == 0 else "")
            + f", {first.candidates} candidates considered",
            f"context depth used: {used or 'none'}",
            f"ladder: {ladder}",
            f"candidates considered: {sum(considered):,} over {len(steps)} steps "
            f"(max {max(considered)})",
        ]
        last = steps[-1].state
        lines.append(f"end: {_state(engine, last)}")
    lines.append(f"tokens: {len(answer)}; halted on {HALTS[trace.halted]}")
    return "\n".join(lines)

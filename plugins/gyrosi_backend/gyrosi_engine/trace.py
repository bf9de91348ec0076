"""The physics line of the plan the backend writes in its `analysis` message."""

from .engine import Engine
from .learn import PathState


def _state(engine: Engine, index: int) -> str:
    atlas = engine.atlas
    return (f"state 0x{int(atlas.ontology[index]):012x} (index {index}), orbit "
            f"{int(atlas.phenomenology[index])} of {int(atlas.orbit_sizes[index]):,} states, "
            f"theta {float(atlas.theta[index]):.4f} rad")


def plan_line(engine: Engine, at: PathState) -> str:
    """Where the walk starts, for the analysis written before the answer streams."""
    return f"start: {_state(engine, at.state)}"

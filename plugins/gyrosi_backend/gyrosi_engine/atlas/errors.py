"""Atlas errors: one sentence each, naming the file and the fix."""

from gyrosi_core.errors import GyrosiError

REBUILD = "run `gyrosi atlas build --force`"


class AtlasError(GyrosiError):
    """The atlas cannot be used as it is."""


class AtlasMissingError(AtlasError):
    """No atlas has been built in this home yet."""


class AtlasCorruptError(AtlasError):
    """A map file or the manifest does not match what was built."""

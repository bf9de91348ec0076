"""Memory errors: each message is one sentence a user can act on."""

from gyrosi_core.errors import GyrosiError


class GyroMemoryError(GyrosiError):
    """Base of memory errors."""


class MemoryCorruptError(GyroMemoryError):
    """A memory file is damaged, from another format version, or not a memory file."""


class MemoryBusyError(GyroMemoryError):
    """Another process holds the memory lock for too long."""


class MemoryAccessError(GyroMemoryError):
    """The memory's files cannot be read or written: a full disk, a read-only home or mount,
    a file where a folder should be (or the other way round), a missing folder."""


class MemoryVersionError(MemoryCorruptError):
    """A memory file from another format version: not damage, but unreadable here; a reset moves
    it aside like a damaged one."""

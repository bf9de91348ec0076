"""GyroSI core: the plugin host, the Harmony turn engine and the `gyrosi` CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gyrosi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from .hookspecs import hookimpl  # noqa: E402  (the one import every plugin needs)

__all__ = ["__version__", "hookimpl"]

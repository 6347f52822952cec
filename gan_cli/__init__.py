"""gan-cli: train, compare and sample GANs from the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gan-cli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

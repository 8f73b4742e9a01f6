"""CDN simulator with geo-aware DNS: pure cores (network model, routing, places,
scenarios) shared by the live servers and the simulator."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cdn-sim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"

"""raytop: a terminal live profiler for Ray Data batch-inference jobs."""

__version__ = "0.1.0"

# The Ray releases raytop was checked against, inclusive (major, minor); docs/ray-internals.md.
SUPPORTED_RAY = ((2, 54), (2, 60))

"""raytop: a terminal live profiler for Ray Data batch-inference jobs."""

__version__ = "0.1.0"

"""raytop's benchmark suite: ``python -m benchmarks [--quick] [--json FILE]``.

One module per measurement (job_slowdown, probe_step, footprint, scale, recording_cost, startup);
each returns ``common.Measurement`` records, every one with its target. Speed and memory targets
live here, never as timed assertions in tests.
"""

"""A Ray driver that does nothing until killed: a target for the refusal paths (argv: READY)."""

import sys
import time
from pathlib import Path

import ray

ray.init(log_to_driver=False)
Path(sys.argv[1]).write_text("ready")
while True:
    time.sleep(1)

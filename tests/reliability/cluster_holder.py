"""A throw-away local Ray cluster on a fixed GCS port, for fault tests that kill and restart it.

argv: PORT TEMP_DIR. Prints ``ready <gcs address>`` once the head node runs, then sleeps until
killed. Ray's head processes share this process's fate (PR_SET_PDEATHSIG), so killing it is
"the cluster goes away". Unlike ``ray start`` it writes no /tmp/ray/ray_current_cluster, which
would redirect every other ``ray.init()`` on the machine to this cluster.
"""

import os
import sys
import time

os.environ.setdefault("RAY_AUTH_MODE", "token")  # like a fresh local cluster of Ray >= 2.59

import ray._private.node
from ray._private.parameter import RayParams

port, temp_dir = int(sys.argv[1]), sys.argv[2]
params = RayParams(gcs_server_port=port, num_cpus=1, include_dashboard=False, temp_dir=temp_dir,
                   object_store_memory=100 * 1024 * 1024)
node = ray._private.node.Node(params, head=True, shutdown_at_exit=True, spawn_reaper=True)
print(f"ready {node.gcs_address}", flush=True)
while True:
    time.sleep(3600)

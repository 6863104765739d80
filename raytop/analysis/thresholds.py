"""Every number the advisor decides with, named in one place. docs/advisor.md gives the reasoning."""

from __future__ import annotations

MIB = 1024 * 1024
GIB = 1024 * MIB

# ---- windows and hysteresis ---------------------------------------------------------------
HISTORY_S = 60.0  # how much history the live Advisor keeps
HISTORY_MAX_SNAPSHOTS = 600
RULE_WINDOW_S = 15.0  # rules look at the last this-many seconds
# Ray's exported series (the probe-free path) are new readings every 5-10 s, not every second:
# a verdict on three of them is a coin toss, so the window reaches back until it holds this many
# distinct readings of every running dataset, at most RULE_WINDOW_MAX_S.
MIN_READINGS = 6
RULE_WINDOW_MAX_S = 60.0
MIN_SAMPLES = 3  # fewer samples in the window than this: dynamic rules stay silent
MIN_SPAN_S = 2.0  # ... or a window shorter than this
HOLD_FRACTION = 0.6  # a condition "holds" when true in at least this share of the samples
STARTUP_GRACE_S = 3.0  # ignore the first seconds of a dataset (actors starting, queues filling)
RAISE_AFTER = 3  # consecutive evaluations a dynamic rule must hold before it is raised
CLEAR_AFTER = 5  # consecutive evaluations it must be off before it is cleared
PLAN_RAISE_AFTER = 1  # plan facts (fusion, a GPU function UDF) do not fluctuate

# ---- object store -------------------------------------------------------------------------
SPILL_MIN_BYTES = 16 * MIB  # spilled bytes must rise by at least this within the window
SPILL_CRITICAL_FRACTION = 0.5  # spilled in the window >= this share of the store capacity
STORE_FULL_FRACTION = 0.90  # node object store used / capacity
STORE_CRITICAL_FRACTION = 0.97
# A store this full while an operator waits on its ResourceBudget is the store limiting the
# pipeline too: Ray Data keeps its own share below the brim, so "full" often reads 85-90 %.
STORE_BUSY_FRACTION = 0.80
BUDGET_EXHAUSTED_BYTES = 1 * MIB  # an operator's object store budget at or below this is spent

# ---- blocks -------------------------------------------------------------------------------
SMALL_BLOCK_BYTES = 1 * MIB
SHORT_TASK_S = 0.05
SMALL_BLOCKS_MIN_TASKS = 300  # above Ray's default of 200 read blocks
TARGET_BLOCK_BYTES = 32 * MIB  # what the small-blocks fix aims for
LARGE_BLOCK_BYTES = 192 * MIB  # 1.5 x Ray's default target_max_block_size (128 MiB)
FEW_BLOCKS_MIN_BYTES = 16 * MIB  # "fewer blocks than slots" only matters for blocks this big

# ---- actors and scheduling ----------------------------------------------------------------
IDLE_FRACTION = 0.5  # idle actors / live actors for "input-starved"
QUEUE_PER_ACTOR = 2  # queued input blocks per busy actor that mark a backlog
DEFAULT_NUM_CPUS = 1.0  # Ray's default for map tasks and actors
ACTOR_START_S = 10.0  # no actor running for less than this is start-up, not a hang
STATELESS_HEAP_PER_TASK = 1 * GIB  # heap per running task that hints at a model loaded per call
STATELESS_MIN_TASK_S = 1.0

# ---- memory -------------------------------------------------------------------------------
NODE_MEM_FRACTION = 0.85
NODE_MEM_CRITICAL_FRACTION = 0.95  # Ray's OOM killer threshold (memory_usage_threshold)
RAY_SHARE_OF_USED = 0.5  # Ray workers must hold this share of the used memory to blame the job
WORKER_MEM_LIMIT_FRACTION = 0.9  # worker heap / its memory= request

# ---- GPU ----------------------------------------------------------------------------------
GPU_LOW_UTIL_PERCENT = 50.0
GPU_MEM_HEADROOM_FRACTION = 0.6  # used / total below this leaves room for a larger batch
GPU_MEM_RISK_FRACTION = 0.95
GPU_MEM_CRITICAL_FRACTION = 0.98

# ---- bottleneck ---------------------------------------------------------------------------
BOTTLENECK_MIN_SCORE = 0.5  # share of samples an operator must be saturated-with-backlog
GPU_BATCH_FIT_FRACTION = 0.8  # a batch proposed after a CUDA OOM aims at this share of the card

# ---- failures and restarts ----------------------------------------------------------------
FAILURE_RECENT_S = 300.0  # a dataset that failed longer ago than this (an earlier job) is not raised
ACTOR_RESTART_FRACTION = 0.2  # an actor pool restarting in this share of the samples keeps dying
ACTOR_RESTART_MIN_SAMPLES = 2  # ... and in at least this many of them (one restart is not a pattern)

# ---- the consumer (the driver's loop over iter_batches) ------------------------------------
CONSUMER_USER_SHARE = 0.75  # of the consumer's time in the window, spent in its own code
CONSUMER_MIN_S = 2.0  # consumer seconds (own code + waiting) the window must cover
CONSUMER_HELD_BLOCKS = 2  # blocks waiting at the pipeline's output: the consumer has not taken them

# ---- stragglers ----------------------------------------------------------------------------
# A running task is a straggler when it has run (on its worker) for STRAGGLER_FACTOR x the p90 of
# the operator's finished tasks, and at least STRAGGLER_MIN_S, once STRAGGLER_MIN_TASKS finished;
# and "a few": at most max(1, STRAGGLER_MAX_SHARE x the running tasks) of them are that slow (more
# is the operator slowing down, not a few tasks).
STRAGGLER_FACTOR = 3.0
STRAGGLER_MIN_S = 5.0
STRAGGLER_MIN_TASKS = 10
STRAGGLER_MAX_SHARE = 0.25

# ---- stalls -------------------------------------------------------------------------------
STALL_S = 60.0  # a RUNNING dataset with no progress for this long is stalled (--stall-after)

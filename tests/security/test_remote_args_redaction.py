"""Secrets in ray_remote_args (runtime_env and friends) never reach a plan, a recording or an export.

Ray 2.60 merges ``map_batches(runtime_env=...)`` into the operator's ``ray_remote_args``, so a
``runtime_env={"env_vars": {"AWS_SECRET_ACCESS_KEY": ...}}`` arrives with the plan the probe captures.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import pytest
import zstandard

from raytop.model import DatasetStats, LogicalOp, Plan, Snapshot
from raytop.recording import RecordingReader, RecordingWriter
from raytop.redact import redact_remote_args
from raytop.sources.ray_adapter import _logical_op

AWS_SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
HF_TOKEN = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
PIP_PASSWORD = "pip-index-pa55word"
SECRETS = (AWS_SECRET, HF_TOKEN, PIP_PASSWORD)


def remote_args_with_secrets() -> dict:
    return {
        "num_cpus": 0.5, "num_gpus": 1, "memory": 2 << 30, "resources": {"accelerator": 1},
        "accelerator_type": "A100", "scheduling_strategy": "SPREAD",
        "runtime_env": {"env_vars": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "HF_TOKEN": HF_TOKEN},
                        "pip": [f"--index-url https://bob:{PIP_PASSWORD}@pypi.example/simple",
                                "torch"]},
        "_metadata": {"token": HF_TOKEN},
    }


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_resource_keys_are_kept_and_other_values_hidden():
    out = redact_remote_args(remote_args_with_secrets())
    assert {k: out[k] for k in ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type",
                                "scheduling_strategy")} == {
        "num_cpus": 0.5, "num_gpus": 1, "memory": 2 << 30, "resources": {"accelerator": 1},
        "accelerator_type": "A100", "scheduling_strategy": "SPREAD"}
    assert set(out) == set(remote_args_with_secrets())  # the names of the other keys stay
    assert out["runtime_env"].startswith("<redacted") and out["_metadata"].startswith("<redacted")
    assert_no_secret(repr(out))


def test_redaction_keeps_runtime_env_differences_visible_and_is_idempotent():
    a = redact_remote_args({"runtime_env": {"env_vars": {"A": "1"}}})
    b = redact_remote_args({"runtime_env": {"env_vars": {"A": "2"}}})
    assert a != b  # two operators with different runtime_envs still differ (Ray won't fuse them)
    assert a == redact_remote_args({"runtime_env": {"env_vars": {"A": "1"}}})
    assert redact_remote_args(a) == a


def test_odd_values_of_kept_keys_are_hidden_too():
    class NodeAffinity:  # a scheduling strategy object: only its class name is kept
        node_id = "abc"
    out = redact_remote_args({"num_cpus": "1; token=x", "resources": {"GPU": "s3cret-value"},
                              "scheduling_strategy": NodeAffinity()})
    assert out["num_cpus"].startswith("<redacted") and out["resources"].startswith("<redacted")
    assert out["scheduling_strategy"] == "NodeAffinity"


def test_probe_adapter_captures_no_secret():
    lop = SimpleNamespace(name="MapBatches(f)", ray_remote_args=remote_args_with_secrets(),
                          input_dependencies=[])
    op = _logical_op(lop, "0:MapBatches(f)", {}, None)
    assert op.ray_remote_args["num_gpus"] == 1 and "runtime_env" in op.ray_remote_args
    assert_no_secret(repr(op))


def plan_from_an_old_probe() -> Plan:
    """A plan as an older probe (or another source) sent it: ray_remote_args unredacted."""
    return Plan(logical=(LogicalOp(id="0:MapBatches(f)", name="MapBatches(f)",
                                   op_class="MapBatches", is_map=True,
                                   ray_remote_args=remote_args_with_secrets()),),
                ray_version="2.60.0")


def recording_with_secret_plan(path) -> None:
    ds = DatasetStats(dataset_id="ds_0", state="RUNNING", plan=plan_from_an_old_probe())
    with RecordingWriter(path, meta={"command": ["raytop"], "interval": 1.0}) as w:
        for i in range(3):
            w.snapshot(Snapshot(t=1_760_000_000.0 + i, datasets=(dataclasses.replace(ds),)))


def test_writer_redacts_plans_before_they_reach_the_file(tmp_path):
    path = tmp_path / "r.raytop"
    recording_with_secret_plan(path)
    with RecordingReader(path) as r:
        plan = r.snapshot(0).datasets[0].plan
        args = plan.logical[0].ray_remote_args
        assert args["num_gpus"] == 1 and args["runtime_env"].startswith("<redacted")
        assert_no_secret(repr(plan))
    # the file holds the plan zstd-compressed: decode every blob, not only the raw bytes
    con = sqlite3.connect(path)
    blobs = [row[0] for row in con.execute("SELECT data FROM plans")]
    con.close()
    assert blobs
    for blob in blobs:
        assert_no_secret(zstandard.ZstdDecompressor().decompress(blob).decode())


def test_exported_recording_holds_no_secret(tmp_path):
    path = tmp_path / "r.raytop"
    recording_with_secret_plan(path)
    done = subprocess.run([sys.executable, "-m", "raytop", "export", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"runtime_env":"<redacted' in done.stdout
    assert_no_secret(done.stdout + done.stderr)


@pytest.mark.ray
def test_real_ray_puts_runtime_env_in_remote_args_and_the_adapter_hides_it(ray_cluster):
    ds = ray_cluster.data.range(10).map_batches(
        lambda batch: batch, num_cpus=0.5,
        runtime_env={"env_vars": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "HF_TOKEN": HF_TOKEN}})
    lop = ds._logical_plan.dag  # built, never executed
    assert AWS_SECRET in repr(lop.ray_remote_args)  # what Ray hands the probe
    op = _logical_op(lop, "1:MapBatches(<lambda>)", {}, None)
    assert op.ray_remote_args["num_cpus"] == 0.5
    assert op.ray_remote_args["runtime_env"].startswith("<redacted:")
    assert_no_secret(repr(op))

"""GPU batch inference with Ray Data: images decoded and preprocessed on CPU tasks, a PyTorch CNN
in an actor pool on the GPU (num_gpus=1 per actor), predictions written to Parquet.

    --mode starved   the classic problem: preprocessing capped at 2 concurrent tasks
                     (compute=TaskPoolStrategy(size=2), a setting copied from a laptop), so the GPU
                     waits for data most of the time
    --mode tuned     the fix raytop suggests for input-starved: enough preprocessing tasks to feed
                     the GPU (size = CPUs left after the model actors)

--batch-size plants the GPU batch problems: too small (gpu-underutilized), too large for the
card's memory (gpu-memory-risk). No downloads: images are generated from a seed; the model has
fixed random weights. Needs PyTorch with CUDA and a GPU.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np
import ray

SIZE = 224


def decode(batch: dict) -> dict:
    """Stands in for JPEG decoding: a deterministic uint8 image per id."""
    ids = batch["id"]
    rng = np.random.default_rng(int(ids[0]))
    batch["image"] = rng.integers(0, 256, size=(len(ids), SIZE, SIZE, 3), dtype=np.uint8)
    return batch


def preprocess(batch: dict) -> dict:
    """Per-image normalisation and a light augmentation, the usual CPU-side work."""
    img = batch.pop("image").astype(np.float32) / 255.0
    img = (img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    img = img.transpose(0, 3, 1, 2)
    if int(batch["id"][0]) % 2:  # horizontal flip for every other batch
        img = img[:, :, :, ::-1]
    batch["pixels"] = np.ascontiguousarray(img)
    return batch


class Classifier:
    """A small CNN (fixed random weights) on the GPU."""

    def __init__(self):
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.torch = torch
        self.model = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 1000),
        ).cuda().eval()

    def __call__(self, batch: dict) -> dict:
        with self.torch.inference_mode():
            x = self.torch.from_numpy(batch.pop("pixels")).cuda(non_blocking=True)
            probs = self.torch.softmax(self.model(x), dim=1)
            score, label = probs.max(dim=1)
        batch["label"] = label.cpu().numpy()
        batch["score"] = score.cpu().numpy()
        return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["starved", "tuned"], default="starved")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gpus", type=int, default=1, help="model actors, one GPU each")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    ray.init()
    cpus = int(ray.cluster_resources().get("CPU", 2))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus < args.gpus:
        raise SystemExit(f"needs {args.gpus} GPU(s), Ray sees {gpus}")
    # Starved: a concurrency cap copied from a laptop config. Tuned: every CPU the model actors
    # do not take (each actor keeps one for its Python loop).
    pre_size = 2 if args.mode == "starved" else max(2, cpus - args.gpus)
    out = args.out or tempfile.mkdtemp(prefix="raytop-gpu-demo-")
    started = time.time()
    ds = (
        ray.data.range(args.rows, override_num_blocks=max(16, args.rows // 256))
        .map_batches(decode, batch_size=64, compute=ray.data.TaskPoolStrategy(size=pre_size))
        .map_batches(preprocess, batch_size=64, compute=ray.data.TaskPoolStrategy(size=pre_size))
        .map_batches(Classifier, batch_size=args.batch_size, num_gpus=1,
                     compute=ray.data.ActorPoolStrategy(size=args.gpus))
    )
    ds.write_parquet(out)
    elapsed = time.time() - started
    print(f"mode={args.mode} batch_size={args.batch_size} preprocess_tasks={pre_size} "
          f"rows={args.rows} seconds={elapsed:.1f} rows_per_s={args.rows / elapsed:.0f}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

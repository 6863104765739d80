"""Batch inference with Ray Data, the shape most inference jobs have:

    generated images → CPU preprocessing (Ray tasks) → classifier (actor pool) → Parquet files

No downloads: the input images are generated from a seed. The classifier is a small MLP in PyTorch
on the GPU when CUDA is available, in NumPy on the CPU otherwise. On a 2-core machine without a GPU
it runs for about a minute. Output goes to a temporary directory (or --out).

    python demos/batch_inference.py            # plain
    raytop run demos/batch_inference.py        # under raytop
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import ray

IMAGE = (3, 64, 64)
HIDDEN = 1024
CLASSES = 10


def load_images(batch: dict) -> dict:
    """Decode stand-in: a deterministic uint8 image per id."""
    ids = batch["id"]
    rng = np.random.default_rng(int(ids[0]))
    batch["image"] = rng.integers(0, 256, size=(len(ids), *IMAGE), dtype=np.uint8)
    return batch


def preprocess(batch: dict) -> dict:
    """Normalise per channel, 2×2 average-pool to 32×32, flatten to a feature vector."""
    img = batch.pop("image").astype(np.float32) / 255.0
    mean = img.mean(axis=(2, 3), keepdims=True)
    std = img.std(axis=(2, 3), keepdims=True) + 1e-6
    img = (img - mean) / std
    n, c, h, w = img.shape
    pooled = img.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    batch["pixels"] = pooled.reshape(n, -1)
    return batch


class Classifier:
    """A 3-layer MLP with fixed random weights (stands in for a real checkpoint)."""

    def __init__(self, device: str = "cpu"):
        rng = np.random.default_rng(0)
        dims = [3 * 32 * 32, HIDDEN, HIDDEN, CLASSES]
        self.weights = [rng.standard_normal((a, b), dtype=np.float32) / np.sqrt(a)
                        for a, b in zip(dims, dims[1:], strict=False)]
        self.torch = None
        if device == "cuda":
            import torch

            self.torch = torch
            self.weights = [torch.from_numpy(w).to("cuda") for w in self.weights]

    def __call__(self, batch: dict) -> dict:
        x = batch.pop("pixels")
        if self.torch is not None:
            with self.torch.no_grad():
                h = self.torch.from_numpy(x).to("cuda")
                for w in self.weights[:-1]:
                    h = self.torch.relu(h @ w)
                logits = (h @ self.weights[-1]).cpu().numpy()
        else:
            h = x
            for w in self.weights[:-1]:
                h = np.maximum(h @ w, 0.0)
            logits = h @ self.weights[-1]
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        batch["label"] = probs.argmax(axis=1)
        batch["score"] = probs.max(axis=1)
        return batch


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch: the CPU path
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150_000, help="images to classify")
    parser.add_argument("--batch-size", type=int, default=256, help="model batch size")
    parser.add_argument("--actors", type=int, default=1, help="max classifier actors")
    parser.add_argument("--out", default=None, help="output directory (default: a temp dir)")
    args = parser.parse_args()

    ray.init()
    gpu = cuda_available()
    out = args.out or tempfile.mkdtemp(prefix="raytop-demo-")
    # The classifier reserves memory for its weights; that also keeps preprocessing in its own CPU
    # tasks instead of fusing it onto the model actors.
    model_args = {"num_gpus": 1} if gpu else {"num_cpus": 1, "memory": 512 * 1024**2}
    started = time.time()
    ds = (
        ray.data.range(args.rows, override_num_blocks=max(8, args.rows // 1000))
        .map_batches(load_images)
        .map_batches(preprocess)
        .map_batches(Classifier, fn_constructor_kwargs={"device": "cuda" if gpu else "cpu"},
                     batch_size=args.batch_size,
                     compute=ray.data.ActorPoolStrategy(min_size=1, max_size=args.actors),
                     **model_args)
    )
    ds.write_parquet(out)
    elapsed = time.time() - started
    files = len(os.listdir(out))
    print(f"classified {args.rows} images on {'GPU' if gpu else 'CPU'} in {elapsed:.1f}s "
          f"({args.rows / elapsed:.0f} rows/s); {files} files in {out}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

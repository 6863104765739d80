"""Find the demo model's batch size that fills a target share of this GPU's memory, by running
the model at growing batch sizes with the real allocator (used to plant gpu-memory-risk on
whatever GPU the check runs on). Prints the batch size."""

import sys

import torch

sys.path.insert(0, "demos")
from gpu_inference import SIZE, Classifier  # noqa: E402

target = float(sys.argv[1]) if len(sys.argv) > 1 else 0.965
model = Classifier()


def used_fraction_at(batch: int) -> float:
    torch.cuda.empty_cache()
    x = torch.zeros((batch, 3, SIZE, SIZE), device="cuda")
    with torch.inference_mode():
        model.model(x)
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    del x
    return (total - free) / total


best, batch = None, 512
while batch < 100_000:
    try:
        frac = used_fraction_at(batch)
    except torch.cuda.OutOfMemoryError:
        break
    print(f"batch={batch} used={frac:.3f}", file=sys.stderr)
    if frac > target + 0.02:
        break
    best = batch
    if frac >= target:
        break
    batch = int(batch * min(1.25, max(1.02, target / frac)))
print(best)

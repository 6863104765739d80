"""Plants a CUDA out-of-memory failure (needs PyTorch with CUDA and a GPU): a model whose
activations need more than the card (`gpu-memory-risk`, critical, with the batch that fits).

    range(rows) -> map_batches(Upsampler, batch_size=B, num_gpus=1, concurrency=1) -> count()

What is wrong: each row's activations take 8 MiB on the GPU (a 64x128x128 float map in and one
out of a convolution) and the default batch size is chosen to need about 1.6x the card's memory,
so the first batch dies with `torch.OutOfMemoryError: CUDA out of memory`. raytop reads the
failure and proposes the batch that fits (docs/advisor.md, "Failures").
`--batch-size N` runs it with another batch size (the device check re-runs it with raytop's).
"""

import argparse

import ray

MIB = 1024 ** 2
PER_ROW = 8 * MIB  # input map + conv output, float32 64x128x128 each


class Upsampler:
    def __init__(self):
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.torch = torch
        self.conv = nn.Conv2d(64, 64, 3, padding=1).cuda().eval()

    def __call__(self, batch):
        torch = self.torch
        with torch.inference_mode():
            n = len(batch["id"])
            x = torch.ones((n, 64, 128, 128), device="cuda")
            y = self.conv(x)
            batch["energy"] = y.float().mean(dim=(1, 2, 3)).cpu().numpy()
        return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=0, help="0: 1.6x what the card holds")
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    import torch

    total = torch.cuda.get_device_properties(0).total_memory
    batch = args.batch_size or int(1.6 * total / PER_ROW)  # WRONG: more than the card holds
    ray.init()
    ds = ray.data.range(batch * args.batches, override_num_blocks=args.batches).map_batches(
        Upsampler, batch_size=batch, num_gpus=1, concurrency=1)
    print(f"batch_size={batch} rows={ds.count()}")


if __name__ == "__main__":
    main()

"""The PyTorch reference of the SegNet speed target, measured on the machine at hand.

The foundation issue states coretf's SegNet-Basic speed target against PyTorch 2.13 on the same
machine (the public coreclean code is PyTorch). Machines differ (an AVX-512/AMX CPU trains this
model four times faster than an AVX2 one), so the reference is rerun wherever coretf's figures
are: this script builds the same SegNet-Basic in PyTorch (7x7 convs without bias, BatchNorm,
ReLU in the encoder only, `MaxPool2d(return_indices=True)` and `MaxUnpool2d`, a 1x1 classifier:
1,416,514 parameters counting BatchNorm statistics, as coretf's), and times a training step
(cross-entropy, Adam 1e-3) and inference (`eval()`, `inference_mode`) for each setting:
float32 or bfloat16 autocast, contiguous or channels_last memory.

PyTorch is not a coretf dependency; run this from a separate environment:

  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
  /tmp/torchenv/bin/python scripts/benchmark_pytorch_reference.py --settings=float32,float32_cl

It prints one JSON document on one line (stdout; indented in `--output`); progress goes to stderr.
`scripts/benchmark_segmentation.py --pytorch_python=...` runs it in every round of its own runs.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

import benchmark_common as common  # scripts/ is on sys.path when this file runs as a script

SETTINGS = {  # name -> (autocast to bfloat16, channels_last)
    "float32": (False, False),
    "float32_cl": (False, True),
    "bf16": (True, False),
    "bf16_cl": (True, True),
}


class SegNetBasic(nn.Module):
    def __init__(self, filters=64, depth=4, kernel_size=7, num_classes=2):
        super().__init__()
        pad = kernel_size // 2

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=pad, bias=False),
                                 nn.BatchNorm2d(c_out, momentum=0.1))

        self.encoders = nn.ModuleList(block(3 if i == 0 else filters, filters) for i in range(depth))
        self.decoders = nn.ModuleList(block(filters, filters) for _ in range(depth))
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.classifier = nn.Conv2d(filters, num_classes, 1)

    def forward(self, x):
        indices = []
        for encoder in self.encoders:
            x, idx = self.pool(torch.relu(encoder(x)))
            indices.append(idx)
        for decoder, idx in zip(self.decoders, reversed(indices)):
            x = decoder(self.unpool(x, idx))
        return self.classifier(x).float()


def run(setting: str, args) -> dict:
    bf16, channels_last = SETTINGS[setting]
    torch.manual_seed(args.seed)
    model = SegNetBasic(args.filters, args.depth, args.kernel_size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(args.batch_size, 3, args.size, args.size).to(memory_format=fmt)
    y = torch.randint(0, 2, (args.batch_size, args.size, args.size))

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    model.train()
    for _ in range(args.warmup):
        step()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        loss = step()
        seconds.append(time.perf_counter() - start)
    record = {"setting": setting, "train_step": common.summary(seconds),
              "train_loss_last": float(loss.detach())}
    common.log("pytorch", f"{setting}: train step {record['train_step']['median_s']:.3f} s")

    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for _ in range(args.warmup):
            model(x)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(x)
            seconds.append(time.perf_counter() - start)
    record["inference"] = common.summary(seconds)
    record["inference"]["patches_per_s"] = args.batch_size / record["inference"]["median_s"]
    common.log("pytorch", f"{setting}: inference {record['inference']['patches_per_s']:.2f} patches/s")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", default="float32,float32_cl,bf16,bf16_cl",
                        help=f"comma-separated, from {sorted(SETTINGS)}")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--kernel_size", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        parser.error(f"--settings: unknown {unknown}; choose from {sorted(SETTINGS)}")
    skipped = {}
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # Without bf16 instructions autocast emulates bfloat16: minutes per step, never the best.
        skipped = {s: "no bf16 support on this CPU" for s in settings if SETTINGS[s][0]}
        settings = [s for s in settings if s not in skipped]
    params = sum(p.numel() for p in SegNetBasic(args.filters, args.depth, args.kernel_size).state_dict().values()
                 if p.dtype.is_floating_point)
    document = {
        "machine": {**common.machine(("torch",)), "threads": torch.get_num_threads(),
                    "mkldnn_bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported()},
        "model": {"filters": args.filters, "depth": args.depth, "kernel_size": args.kernel_size,
                  "size": args.size, "batch_size": args.batch_size, "params_with_bn_stats": params},
        "results": [run(s, args) for s in settings],
        "skipped": skipped,
    }
    best_train = min(document["results"], key=lambda r: r["train_step"]["median_s"])
    best_infer = max(document["results"], key=lambda r: r["inference"]["patches_per_s"])
    document["best"] = {
        "train": {"setting": best_train["setting"], "median_s": best_train["train_step"]["median_s"]},
        "inference": {"setting": best_infer["setting"],
                      "patches_per_s": best_infer["inference"]["patches_per_s"]},
    }
    document["rss_peak_mb"] = common.rss_mb()
    if args.output:
        with open(args.output, "w") as f:
            json.dump(document, f, indent=2)
    print(json.dumps(document))  # one line: the driver reads the last line


if __name__ == "__main__":
    main()

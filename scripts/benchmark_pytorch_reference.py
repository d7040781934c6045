"""The PyTorch reference of the SegNet speed target, measured on the machine at hand.

The foundation issue states coretf's SegNet-Basic speed target against PyTorch 2.13 on the same
machine (the public coreclean code is PyTorch). Machines differ (an AVX-512/AMX CPU trains this
model four times faster than an AVX2 one), so the reference is rerun wherever coretf's figures
are: this worker builds the same SegNet-Basic in PyTorch (7x7 convs without bias, BatchNorm,
ReLU in the encoder only, `MaxPool2d(return_indices=True)` and `MaxUnpool2d`, a 1x1 classifier:
1,416,514 parameters counting BatchNorm statistics, as coretf's) for one setting (float32 or
bfloat16 autocast, contiguous or channels_last memory) and serves the same requests as
scripts/benchmark_segmentation_worker.py: "train" (cross-entropy, Adam 1e-3), "infer" (`eval()`,
`inference_mode`) and "report".

PyTorch is not a coretf dependency; the driver runs this from a separate environment:

  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
  python scripts/benchmark_segmentation.py --target --interleave \\
      --pytorch_python=/tmp/torchenv/bin/python --pytorch_settings=float32,float32_cl
"""

from __future__ import annotations

import json
import sys

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


class Session:
    """One setting of the reference, built and warmed up; its methods answer the driver."""

    def __init__(self, spec: dict):
        setting = spec["setting"]
        if setting not in SETTINGS:
            raise ValueError(f"unknown setting {setting!r}; choose from {sorted(SETTINGS)}")
        self.bf16, channels_last = SETTINGS[setting]
        if self.bf16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            # Without bf16 instructions autocast emulates bfloat16: minutes per step.
            raise ValueError("no bf16 support on this CPU")
        torch.manual_seed(spec["seed"])
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = SegNetBasic(spec["filters"], spec["depth"], spec["kernel_size"]).to(
            memory_format=fmt)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.CrossEntropyLoss()
        b, s = spec["batch_size"], spec["size"]
        self.x = torch.rand(b, 3, s, s).to(memory_format=fmt)
        self.y = torch.randint(0, 2, (b, s, s))
        self.info = {
            "setting": setting, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "params_with_bn_stats": sum(p.numel() for p in self.model.state_dict().values()
                                        if p.dtype.is_floating_point),
            "first_step_s": common.timed(self._step)["s"],
        }
        warm = [common.timed(self._step)["s"] for _ in range(max(0, spec["warmup"] - 1))]
        self.info["warm_step_s"] = min(warm or [self.info["first_step_s"]])
        for _ in range(max(1, spec["warmup"])):
            self._infer()
        self.info["inference_variants"] = ["eval"]

    def _step(self):
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            self.loss = self.loss_fn(self.model(self.x), self.y)
        self.loss.backward()
        self.optimizer.step()

    def _infer(self):
        self.model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            self.model(self.x)

    def train(self, request: dict) -> dict:
        return common.timed(self._step)

    def infer(self, request: dict) -> dict:
        return common.timed(self._infer)

    def report(self, request: dict) -> dict:
        return {"rss_peak_mb": common.rss_mb(), "train_loss_last": float(self.loss.detach())}


def main() -> None:
    stream = common.protocol_stream()
    try:
        session = Session(json.loads(sys.argv[1]))
    except Exception as error:  # the driver reports it and goes on
        stream.write(json.dumps({"error": f"{type(error).__name__}: {error}"[:1000]}) + "\n")
        stream.flush()
        raise SystemExit(1)
    common.serve(stream, session.info, {"train": session.train, "infer": session.infer,
                                        "report": session.report})


if __name__ == "__main__":
    main()

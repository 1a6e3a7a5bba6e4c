"""Writes tests/golden/v<major>_<minor>_<name>.ptl and its expected output.

Run once per released format version: existing files are never rewritten, and
later versions of ptlite must keep loading every file in this folder.
  v1_0_small  float model (format 1.0)
  v1_1_quant  int8 weights with their quantization parameters (format 1.1)

    PYTHONPATH=python python tests/golden/make_golden.py
"""
import os

import numpy as np

import ptlite
from ptlite import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(nn.functional.relu6(self.bn(self.conv(x))))
        return {"logits": self.fc(x.flatten(1)), "features": x.mean(dim=(2, 3))}


def golden_input() -> np.ndarray:
    return (np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8) % 17) / 17.0 - 0.5


class SmallQuant(nn.Module):
    """Format 1.1: int8 weights (per channel and per tensor) with their parameters,
    and quantized values computed at run time (quantize, views, int_repr)."""

    def __init__(self, rng: np.random.RandomState) -> None:
        super().__init__()
        w = ptlite.from_numpy(rng.uniform(-0.5, 0.5, size=(8, 3, 3, 3)).astype(np.float32))
        scales = ptlite.from_numpy(rng.uniform(0.002, 0.006, size=8).astype(np.float32))
        zps = ptlite.from_numpy(rng.randint(-4, 5, size=8).astype(np.int64))
        self.register_buffer("conv_qweight",
                             ptlite.quantize_per_channel(w, scales, zps, 0, ptlite.qint8))
        self.conv_bias = nn.Parameter(
            ptlite.from_numpy(rng.uniform(-0.1, 0.1, size=8).astype(np.float32)))
        fw = ptlite.from_numpy(rng.uniform(-0.5, 0.5, size=(5, 8)).astype(np.float32))
        self.register_buffer("fc_qweight",
                             ptlite.quantize_per_tensor(fw, 0.004, 3, ptlite.qint8))

    def forward(self, x):
        y = nn.functional.relu(nn.functional.conv2d(x, self.conv_qweight.dequantize(),
                                                    self.conv_bias, padding=1))
        q = ptlite.quantize_per_tensor(y, 0.01, 2, ptlite.quint8)
        feats = q.permute(0, 2, 3, 1).dequantize().mean(dim=(1, 2))
        return {"logits": nn.functional.linear(feats, self.fc_qweight.dequantize()),
                "features": feats, "codes": q.int_repr()[:, :, ::4, ::4].float()}


def write(name: str, traced, x, note: str) -> None:
    path = os.path.join(HERE, name + ".ptl")
    if os.path.exists(path):
        print(f"{path} exists: golden files are never rewritten")
        return
    traced.save(path, _extra_files={"note.txt": note})
    out = traced(x)
    np.savez(os.path.join(HERE, name + "_expected.npz"),
             **{k: v.numpy() for k, v in out.items()})
    print("wrote", path)


def main() -> None:
    x = ptlite.from_numpy(golden_input())
    write("v1_1_quant", ptlite.jit.trace(SmallQuant(np.random.RandomState(1101)).eval(), x), x,
          "golden v1.1 (quantized constants)")
    rng = np.random.RandomState(1234)
    model = Small().eval()
    state = {k: rng.uniform(-0.5, 0.5, size=tuple(v.shape)).astype(np.float32)
             for k, v in model.state_dict().items() if v.dtype is ptlite.float32}
    state["bn.running_var"] = np.abs(state["bn.running_var"]) + 0.5
    model.load_state_dict(state, strict=False)
    write("v1_0_small", ptlite.jit.trace(model, x), x, "golden v1.0")


if __name__ == "__main__":
    main()

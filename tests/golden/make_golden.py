"""Writes tests/golden/v<major>_<minor>_small.ptl and its expected output.

Run once per released format version (never rewrite an existing file): later
versions of ptlite must keep loading every file in this folder.

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


def main() -> None:
    rng = np.random.RandomState(1234)
    model = Small().eval()
    state = {k: rng.uniform(-0.5, 0.5, size=tuple(v.shape)).astype(np.float32)
             for k, v in model.state_dict().items() if v.dtype is ptlite.float32}
    state["bn.running_var"] = np.abs(state["bn.running_var"]) + 0.5
    model.load_state_dict(state, strict=False)
    x = ptlite.from_numpy(golden_input())
    traced = ptlite.jit.trace(model, x)
    name = "v1_0_small"
    traced.save(os.path.join(HERE, name + ".ptl"), _extra_files={"note.txt": "golden v1.0"})
    out = traced(x)
    np.savez(os.path.join(HERE, name + "_expected.npz"), logits=out["logits"].numpy(),
             features=out["features"].numpy())


if __name__ == "__main__":
    main()

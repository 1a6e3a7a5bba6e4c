"""Real data: a LeNet-style CNN trained with torch on Fashion-MNIST (Debian's
dataset-fashion-mnist), loaded into ptlite by state_dict and quantized post-training with
per-channel weights and histogram activation observers. ptlite's int8 accuracy must be
within 1.0 point of fp32 and within 0.3 points of torch's own PTQ of the same model.

Training takes about a minute on two cores; the trained weights are cached in
tests/.cache/ (git-ignored), keyed by the training recipe."""
from __future__ import annotations

import gzip
import hashlib
import os
import warnings

import numpy as np
import pytest
import torch

import ptlite

DATA = "/usr/share/datasets/fashion-mnist"
CACHE = os.path.join(os.path.dirname(__file__), ".cache")
MEAN, STD = 0.2860, 0.3530
RECIPE = "lenet-bn-v1 seed=0 epochs=2 adam lr=2e-3 batch=128"

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA),
                                reason="Debian package dataset-fashion-mnist not installed")


def _images(name: str) -> np.ndarray:
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    x = raw.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return (x - MEAN) / STD


def _labels(name: str) -> np.ndarray:
    with gzip.open(os.path.join(DATA, name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)


def make_net(lib):
    """The same LeNet-style network in torch or ptlite (with quant/dequant stubs)."""
    nn = lib.nn
    q = lib.ao.quantization

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = q.QuantStub()
            self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(16, 32, 5)
            self.bn2 = nn.BatchNorm2d(32)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(32 * 5 * 5, 120)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(120, 84)
            self.relu4 = nn.ReLU()
            self.fc3 = nn.Linear(84, 10)
            self.dequant = q.DeQuantStub()

        def forward(self, x):
            x = self.quant(x)
            x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
            x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
            x = self.flatten(x)
            x = self.relu4(self.fc2(self.relu3(self.fc1(x))))
            return self.dequant(self.fc3(x))

    return Net()


FUSE = [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"], ["fc1", "relu3"],
        ["fc2", "relu4"]]


def _train() -> dict:
    key = hashlib.sha1(RECIPE.encode()).hexdigest()[:12]
    path = os.path.join(CACHE, f"fashion_lenet_{key}.pt")
    if os.path.exists(path):
        return torch.load(path)
    x = torch.from_numpy(_images("train-images-idx3-ubyte.gz"))
    y = torch.from_numpy(_labels("train-labels-idx1-ubyte.gz"))
    torch.manual_seed(0)
    net = make_net(torch)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(2):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    os.makedirs(CACHE, exist_ok=True)
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)
    return state


def _accuracy(model, x: np.ndarray, y: np.ndarray, lib) -> float:
    correct = 0
    for i in range(0, len(x), 1000):
        xb = x[i:i + 1000]
        out = model(ptlite.tensor(xb) if lib is ptlite else torch.from_numpy(xb))
        pred = np.asarray(out.numpy()).argmax(1)
        correct += int((pred == y[i:i + 1000]).sum())
    return 100.0 * correct / len(x)


@pytest.fixture(scope="module")
def trained():
    return _train()


def test_static_int8_accuracy_matches_fp32_and_torch_ptq(trained):
    old_engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "qnnpack"
    try:
        x_test = _images("t10k-images-idx3-ubyte.gz")
        y_test = _labels("t10k-labels-idx1-ubyte.gz")
        calib = _images("train-images-idx3-ubyte.gz")[:2000]
        accs = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for lib in (ptlite, torch):
                q = lib.ao.quantization
                net = make_net(lib)
                net.load_state_dict(trained if lib is torch else
                                    {k: ptlite.tensor(v.numpy()) for k, v in trained.items()})
                net.eval()
                with torch.no_grad():
                    accs[lib.__name__, "fp32"] = _accuracy(net, x_test, y_test, lib)
                    net.qconfig = q.QConfig(
                        activation=q.HistogramObserver.with_args(reduce_range=False),
                        weight=q.default_per_channel_weight_observer)
                    prepared = q.prepare(q.fuse_modules(net, FUSE))
                    for i in range(0, len(calib), 500):
                        xb = calib[i:i + 500]
                        prepared(ptlite.tensor(xb) if lib is ptlite else torch.from_numpy(xb))
                    int8 = q.convert(prepared)
                    assert int8.conv1.weight().qscheme() is (
                        lib.per_channel_affine)
                    accs[lib.__name__, "int8"] = _accuracy(int8, x_test, y_test, lib)
    finally:
        torch.backends.quantized.engine = old_engine
    print("Fashion-MNIST test accuracy:", {f"{a} {b}": round(v, 2) for (a, b), v in
                                           accs.items()})
    assert accs["ptlite", "fp32"] == pytest.approx(accs["torch", "fp32"], abs=0.02)
    assert accs["ptlite", "fp32"] > 85.0  # the model did learn
    assert abs(accs["ptlite", "int8"] - accs["ptlite", "fp32"]) <= 1.0
    assert abs(accs["ptlite", "int8"] - accs["torch", "int8"]) <= 0.3

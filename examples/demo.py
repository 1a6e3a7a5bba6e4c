"""End-to-end demo: build models from ptlite's zoo and run them eagerly on the C engine.

Run with `make demo`. No weights are downloaded (none can be): the models carry
torchvision's random initialisation, so the predicted classes are arbitrary; the
point is the path, the shapes and the speed. LeNet-5 runs on real Fashion-MNIST
test images from Debian's dataset-fashion-mnist package.
"""
from __future__ import annotations

import gzip
import os
import time

import numpy as np

import ptlite as torch  # the torch-like API
from ptlite.vision import models

FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]


def load_fashion_images(n: int) -> np.ndarray:
    """The first n Fashion-MNIST test images as float32 [n, 1, 28, 28] in [0, 1]."""
    with gzip.open(FASHION, "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (data[: n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255.0)


def timed(fn, *args, runs: int = 5):
    fn(*args)  # warm-up: packs weights once
    start = time.perf_counter()
    for _ in range(runs):
        out = fn(*args)
    return out, (time.perf_counter() - start) / runs * 1e3


def main() -> None:
    torch.manual_seed(0)
    print(f"ptlite {torch.__version__}, {torch.get_num_threads()} threads")

    model = models.mobilenet_v2().eval()
    image = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        logits, ms = timed(model, image)
    top = logits[0].numpy().argsort()[::-1][:5]
    print(f"mobilenet_v2: output {tuple(logits.shape)}, {ms:.1f} ms/run, "
          f"top-5 classes by logit {top.tolist()} (random weights)")

    lenet = models.lenet5().eval()
    if os.path.exists(FASHION):
        batch = torch.from_numpy(load_fashion_images(8))
        source = "Fashion-MNIST test images"
    else:
        batch = torch.rand(8, 1, 28, 28)
        source = "random images (dataset-fashion-mnist not installed)"
    with torch.no_grad():
        pred, ms = timed(lambda x: lenet(x).argmax(dim=1), batch)
    names = [LABELS[i] for i in pred.tolist()]
    print(f"lenet5 on 8 {source}: {ms:.2f} ms/batch, predictions {names} (untrained)")
    print("state_dict keys:", list(lenet.state_dict())[:4], "...")


if __name__ == "__main__":
    main()

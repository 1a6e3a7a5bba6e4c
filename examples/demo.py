"""End-to-end demo: build models from ptlite's zoo, run them eagerly on the C engine, and
quantize LeNet-5 to int8 (graph mode) and export it to .ptl.

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

    # post-training int8: graph mode, calibrated on the images, exported to .ptl
    import tempfile
    from ptlite.ao.quantization import get_default_qconfig_mapping
    from ptlite.ao.quantization.quantize_fx import convert_fx, prepare_fx
    from ptlite.jit.mobile import _load_for_lite_interpreter
    from ptlite.utils.mobile_optimizer import optimize_for_mobile
    prepared = prepare_fx(lenet, get_default_qconfig_mapping("qnnpack"), (batch,))
    torch.quantization.calibrate(prepared, [batch], progress=False)
    int8 = convert_fx(prepared)
    with torch.no_grad():
        ref = lenet(batch)
        out8 = int8(batch)
    sqnr = torch.quantization.ns.compute_sqnr(ref, out8)
    agree = int((out8.argmax(dim=1) == ref.argmax(dim=1)).sum())
    with tempfile.TemporaryDirectory() as d:
        sizes = {}
        for name, m in (("fp32", lenet), ("int8", int8)):
            path = os.path.join(d, name + ".ptl")
            optimize_for_mobile(torch.jit.trace(m, batch))._save_for_lite_interpreter(path)
            sizes[name] = os.path.getsize(path)
        lite = _load_for_lite_interpreter(os.path.join(d, "int8.ptl"))
        same = bool((lite(batch) == out8).all())
    print(f"lenet5 int8 (prepare_fx/convert_fx): SQNR {sqnr:.1f} dB vs fp32, {agree}/8 "
          f"predictions agree, .ptl {sizes['fp32'] / 1024:.0f} KiB -> {sizes['int8'] / 1024:.0f} "
          f"KiB, lite runtime output identical to eager: {same}")
    print(int8.fallback_report())


if __name__ == "__main__":
    main()

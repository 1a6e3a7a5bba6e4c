"""Debugging accuracy: ns.compare_weights / compare_model_outputs, quantization_report with
its skip_worst rerun, and calibrate()."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ptlite
from test_quantize_eager import _NET_FUSE, _net, _pair_models

pq = ptlite.quantization


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _quantized(model, batches):
    model.qconfig = pq.get_default_qconfig("qnnpack")
    p = pq.prepare(pq.fuse_modules(model, _NET_FUSE))
    pq.calibrate(p, batches, progress=False)
    return pq.convert(p)


def _batches(n=3):
    return [ptlite.tensor(np.random.randn(4, 1, 28, 28).astype(np.float32)) for _ in range(n)]


def test_compute_sqnr_matches_torch():
    x = np.random.randn(100).astype(np.float32)
    y = x + 0.01 * np.random.randn(100).astype(np.float32)
    from torch.ao.ns.fx.utils import compute_sqnr
    want = float(compute_sqnr(torch.from_numpy(x), torch.from_numpy(y)))
    assert pq.ns.compute_sqnr(ptlite.tensor(x), ptlite.tensor(y)) == pytest.approx(want,
                                                                                  rel=1e-4)
    assert pq.ns.compute_sqnr(ptlite.tensor(x), ptlite.tensor(x)) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        pq.ns.compute_sqnr(ptlite.tensor(x), ptlite.tensor(x[:5]))


def test_compare_weights_and_outputs():
    fm, _ = _pair_models(_net)
    batches = _batches()
    qm = _quantized(fm, batches)
    fused = pq.fuse_modules(fm, _NET_FUSE)
    w = pq.ns.compare_weights(fused.state_dict(), qm.state_dict())
    assert set(w) == {"conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight",
                      "fc2.weight"}
    for k, pair in w.items():
        assert pair["quantized"].dtype == ptlite.qint8
        assert pq.ns.compute_sqnr(pair["float"], pair["quantized"]) > 30, k
    out = pq.ns.compare_model_outputs(fm, qm, batches[0])
    # conv1's group is conv1+bn1+relu1: compared against the float relu1 output
    assert "conv1" in out and "fc2" in out and "bn1" not in out
    f, q = out["conv1"]["float"][0], out["conv1"]["quantized"][0]
    assert tuple(f.shape) == tuple(q.shape) == (4, 6, 28, 28)
    assert pq.ns.compute_sqnr(f, q) > 25


def test_quantization_report_orders_layers_and_skips_worst():
    fm, _ = _pair_models(_net)
    batches = _batches()
    qm = _quantized(fm, batches)
    report = pq.quantization_report(fm, qm, batches)
    sq = [row["sqnr"] for row in report.layers]
    assert sq == sorted(sq) and len(sq) >= 5
    assert all(np.isfinite(s) and s > 10 for s in sq)
    assert 10 < report.output_sqnr < 60
    text = repr(report)
    assert "most damaged" in text and report.layers[0]["name"] in text.splitlines()[1]
    worst = report.worst(1)
    # the one-line rerun: the worst layer stays float
    fm2 = report.skip_worst(1, fm)
    assert fm2 is fm and getattr(fm, worst[0]).qconfig is None
    mapping = report.skip_worst(2, _FakeMapping())
    assert mapping.skipped == report.worst(2)


class _FakeMapping:
    def __init__(self):
        self.skipped = []

    def set_module_name(self, name, qconfig):
        assert qconfig is None
        self.skipped.append(name)
        return self


def test_skip_worst_unknown_name():
    report = pq.ns.QuantizationReport([{"name": "nope", "type": "X", "sqnr": 1.0}], 10.0)
    with pytest.raises(KeyError, match="no module 'nope'"):
        report.skip_worst(1, ptlite.nn.Linear(2, 2))


def test_calibrate_progress_bar(capsys):
    fm, _ = _pair_models(_net)
    fm.qconfig = pq.get_default_qconfig("qnnpack")
    p = pq.prepare(fm)
    labels = ptlite.tensor(np.zeros(4, dtype=np.int64))
    data = [(b, labels) for b in _batches(2)]
    assert pq.calibrate(p, data, progress=True) is p
    err = capsys.readouterr().err
    assert "calibrating" in err and "2/2" in err
    scale, _ = p.quant.activation_post_process.calculate_qparams()
    assert float(scale) > 0 and float(scale) != 1.0
    pq.calibrate(p, data, progress=False, max_batches=1)
    assert capsys.readouterr().err == ""

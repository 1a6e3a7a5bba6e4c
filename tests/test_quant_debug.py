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


# ---- graph mode: quantization_report on convert_fx models -----------------------------
from ptlite.quantization import _fx_graph as fxg  # noqa: E402
from ptlite.quantization import ns  # noqa: E402
from ptlite.quantization.qconfig_mapping import get_default_qconfig_mapping  # noqa: E402
from ptlite.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402

pnn = ptlite.nn
_Q_OPS = {ptlite._ops.table.op_id(n) for n in (
    "quantized_conv2d", "quantized_linear", "quantized_add", "quantized_cat")}


@pytest.fixture
def kernels(monkeypatch):
    """The int8 kernels; where this build's still raise "not implemented yet", the
    dequantize -> float op -> quantize emulation of test_quantize_fx stands in."""
    x = ptlite.quantize_per_tensor(ptlite.zeros(1, 1, 3, 3), 1.0, 0, ptlite.quint8)
    w = ptlite.quantize_per_tensor(ptlite.ones(1, 1, 1, 1), 1.0, 0, ptlite.qint8)
    try:
        ptlite._ops.table.call(ptlite._ops.table.op_id("quantized_conv2d"), (x, w, None),
                               (1, 1, 0, 0, 1, 1, 1, 0, 0), (1.0,))
    except Exception as e:  # noqa: BLE001
        if "not implemented" not in str(e):
            raise
        from test_quantize_fx import _emulate
        monkeypatch.setattr(fxg, "_call", _emulate(fxg._call))


def _rand_bn(model, seed=0):
    """Non-trivial batch-norm statistics, so that a pre-bn reference would be far off."""
    g = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, pnn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(ptlite.tensor(g.standard_normal(n).astype(np.float32) * 0.5))
            m.running_var.copy_(ptlite.tensor(g.uniform(0.3, 2.0, n).astype(np.float32)))
            m.weight.data.copy_(ptlite.tensor(g.uniform(0.5, 1.5, n).astype(np.float32)))
            m.bias.data.copy_(ptlite.tensor(g.standard_normal(n).astype(np.float32) * 0.3))
    return model.eval()


class _ConvBnRelu(pnn.Module):
    def __init__(self):
        super().__init__()
        self.conv = pnn.Conv2d(3, 8, 3, padding=1)
        self.bn = pnn.BatchNorm2d(8)
        self.relu = pnn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class _ResNetLike(pnn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = pnn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = pnn.BatchNorm2d(8)
        self.relu1 = pnn.ReLU()
        self.conv2 = pnn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = pnn.BatchNorm2d(8)
        self.relu2 = pnn.ReLU()
        self.pool = pnn.AdaptiveAvgPool2d(1)
        self.fc = pnn.Linear(8, 5)

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)) + y)
        return self.fc(ptlite.flatten(self.pool(y), 1))


def _img(shape, n=3, seed=1):
    g = np.random.default_rng(seed)
    return [ptlite.tensor(g.standard_normal(shape).astype(np.float32)) for _ in range(n)]


def _fx_quantize(model, batches, mapping=None):
    p = prepare_fx(model, mapping or get_default_qconfig_mapping("qnnpack"), (batches[0],))
    for b in batches:
        p(b)
    return convert_fx(p)


def _out_sqnr(model, qm, batches):
    s = n = 0.0
    for b in batches:
        f, q = model(b).numpy().astype(np.float64), qm(b).numpy().astype(np.float64)
        s += (f * f).sum()
        n += ((f - q) ** 2).sum()
    return 10 * math.log10(s / n)


def test_graph_report_reference_is_after_bn_and_relu(kernels):
    m = _rand_bn(_ConvBnRelu())
    data = _img((2, 3, 8, 8))
    qm = _fx_quantize(m, data)
    r = ns.quantization_report(m, qm, data)
    assert [(row["name"], row["type"]) for row in r.layers] == [("conv", "conv2d+bn+relu")]
    row = r.layers[0]
    # the layer's output is the model's output: compared with the float model's relu output
    # (a reference before the bn or the relu would give another number)
    assert row["sqnr"] == pytest.approx(r.output_sqnr, rel=1e-6)
    assert row["sqnr"] == pytest.approx(_out_sqnr(m, qm, data), rel=1e-6)
    assert row["local_sqnr"] == pytest.approx(row["sqnr"], rel=1e-6)  # its input is the model's
    assert 20 < row["sqnr"] < 60
    # weight SQNR: against the bn-folded float weight (torch's fuse_conv_bn_weights)
    bn = m.bn
    scale = bn.weight.numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    folded = m.conv.weight.numpy() * scale[:, None, None, None]
    want = ns.compute_sqnr(ptlite.tensor(folded), qm.quantized_weights["conv"])
    assert row["weight_sqnr"] == pytest.approx(want, rel=1e-4) and want > 30
    assert ns.compute_sqnr(m.conv.weight, qm.quantized_weights["conv"]) < 20  # not unfolded


def test_graph_report_matches_hand_computed_sqnr(kernels, monkeypatch):
    m = _rand_bn(_ResNetLike())
    data = _img((2, 3, 8, 8))
    qm = _fx_quantize(m, data)
    report = ns.quantization_report(m, qm, data)
    rows = {(row["name"], row["type"]): row for row in report.layers}
    assert set(rows) == {("conv1", "conv2d+bn+relu"), ("conv2", "conv2d+bn"),
                         ("", "add+relu"), ("fc", "linear")}
    # the same numbers by hand: the float model's module outputs (forward hooks) against
    # the int8 ops' outputs as they run (recorded at the dispatcher)
    seen = []
    real = fxg._call

    def record(op, ins, ints=(), floats=()):
        r = real(op, ins, ints, floats)
        if op in _Q_OPS:
            seen.append(r)
        return r

    monkeypatch.setattr(fxg, "_call", record)
    f_out = {}
    mods = dict(m.named_modules())
    hooks = [mods[k].register_forward_hook(
        lambda mod, i, o, k=k: f_out.setdefault(k, []).append(o.numpy().astype(np.float64)))
        for k in ("relu1", "bn2", "relu2", "fc")]
    for b in data:
        m(b)
        qm(b)
    for h in hooks:
        h.remove()
    for key, fname, k in ((("conv1", "conv2d+bn+relu"), "relu1", 0),
                          (("conv2", "conv2d+bn"), "bn2", 1),
                          (("", "add+relu"), "relu2", 2), (("fc", "linear"), "fc", 3)):
        s = n = 0.0
        for j, f in enumerate(f_out[fname]):
            q = seen[4 * j + k].dequantize().numpy().astype(np.float64)
            s += (f * f).sum()
            n += ((f - q) ** 2).sum()
        assert rows[key]["sqnr"] == pytest.approx(10 * math.log10(s / n), rel=1e-5), key
    sq = [row["sqnr"] for row in report.layers]
    assert sq == sorted(sq)
    local = ns.quantization_report(m, qm, data, sort_by="local_sqnr")
    lq = [row["local_sqnr"] for row in local.layers]
    assert lq == sorted(lq) and all(np.isfinite(lq))
    # the first layer's input is the model input: local and end-to-end agree there
    assert rows[("conv1", "conv2d+bn+relu")]["local_sqnr"] == \
        pytest.approx(rows[("conv1", "conv2d+bn+relu")]["sqnr"], rel=1e-6)
    text = repr(report)
    assert "(top-level forward)" in text and "local SQNR" in text and "inputs quantized" in text


def test_graph_report_resnet18(kernels):
    from ptlite.vision.models import resnet18
    ptlite.manual_seed(0)
    m = _rand_bn(resnet18(num_classes=10))
    data = _img((1, 3, 64, 64), n=2)
    qm = _fx_quantize(m, data)
    report = ns.quantization_report(m, qm, data)
    print("\n" + repr(report))
    mods = dict(m.named_modules())
    sq = [row["sqnr"] for row in report.layers]
    assert sq == sorted(sq)
    assert all(np.isfinite(row["sqnr"]) and np.isfinite(row["local_sqnr"])
               for row in report.layers)
    assert all(row["name"] in mods for row in report.layers)
    types = {}
    for row in report.layers:
        types[row["type"]] = types.get(row["type"], 0) + 1
    # 20 convs (stem, 16 in blocks, 3 downsamples) with their bn, 8 residual adds, fc
    assert types == {"conv2d+bn+relu": 9, "conv2d+bn": 11, "add+relu": 8, "linear": 1}
    for row in report.layers:
        if row["type"].startswith("conv2d"):
            assert isinstance(mods[row["name"]], pnn.Conv2d)
            assert row["weight_sqnr"] > 30, row
        elif row["type"] == "add+relu":
            assert type(mods[row["name"]]).__name__ == "BasicBlock"
            assert row["weight_sqnr"] is None
    assert np.isfinite(report.output_sqnr) and report.output_sqnr > 10
    assert report.output_sqnr == pytest.approx(_out_sqnr(m, qm, data), rel=1e-6)
    # the rerun keeps exactly the reported layers float (a block's add: just the add)
    mapping = get_default_qconfig_mapping("qnnpack")
    worst = report.worst(4)
    report.skip_worst(4, mapping)
    qm2 = _fx_quantize(m, data, mapping)
    assert sorted(f["module"] for f in qm2.fallbacks) == sorted(worst)
    assert len(qm2.quantized_weights) == 21 - sum(row["weight_sqnr"] is not None
                                                  for row in report.layers[:4])
    r2 = ns.quantization_report(m, qm2, data)
    assert len(r2.layers) == len(report.layers) - 4
    print(f"skip_worst(4) {worst}: output SQNR {report.output_sqnr:.1f} -> "
          f"{r2.output_sqnr:.1f} dB")


class _Hurt(pnn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = pnn.Linear(16, 32)
        self.relu1 = pnn.ReLU()
        self.fc2 = pnn.Linear(32, 32)
        self.relu2 = pnn.ReLU()
        self.fc3 = pnn.Linear(32, 8)

    def forward(self, x):
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


def _hurt_model():
    """fc2 has one huge weight on an input that is always 0 (fc1's unit 0 never fires):
    it does not change the float model but per-tensor int8 weights round every other fc2
    weight to 0."""
    ptlite.manual_seed(0)
    m = _Hurt().eval()
    w1, b1 = m.fc1.weight.numpy().copy(), m.fc1.bias.numpy().copy()
    w1[0], b1[0] = 0.0, -1.0
    m.fc1.weight.data.copy_(ptlite.tensor(w1))
    m.fc1.bias.data.copy_(ptlite.tensor(b1))
    w2 = m.fc2.weight.numpy().copy()
    w2[0, 0] = 100.0
    m.fc2.weight.data.copy_(ptlite.tensor(w2))
    return m


@pytest.mark.parametrize("sort_by", ["sqnr", "local_sqnr"])
def test_graph_skip_worst_round_trip(kernels, sort_by):
    m = _hurt_model()
    data = _img((8, 16), n=3)
    mapping = get_default_qconfig_mapping("qnnpack")  # per-tensor weights
    qm = _fx_quantize(m, data, mapping)
    assert qm.fallbacks == []
    report = ns.quantization_report(m, qm, data, sort_by=sort_by)
    by_name = {row["name"]: row for row in report.layers}
    assert by_name["fc2"]["local_sqnr"] < 5 and by_name["fc1"]["local_sqnr"] > 25
    assert by_name["fc2"]["weight_sqnr"] > 25  # the weight SQNR alone does not show it
    assert report.worst(1) == ["fc2"]
    # end to end, fc3 inherits fc2's damage; alone it is fine
    assert by_name["fc3"]["sqnr"] < 10 < 30 < by_name["fc3"]["local_sqnr"]
    worst = report.worst(1)
    assert report.skip_worst(1, mapping) is mapping
    qm2 = _fx_quantize(m, data, mapping)
    assert sorted(f["module"] for f in qm2.fallbacks) == sorted(worst)
    assert set(qm2.quantized_weights) == {"fc1", "fc2", "fc3"} - set(worst)
    r2 = ns.quantization_report(m, qm2, data)
    assert r2.output_sqnr >= report.output_sqnr + 10
    assert r2.output_sqnr == pytest.approx(_out_sqnr(m, qm2, data), rel=1e-6)
    assert {row["name"] for row in r2.layers} == {"fc1", "fc2", "fc3"} - set(worst)


def test_graph_skip_worst_functional_op_keeps_just_that_op(kernels):
    m = _rand_bn(_ResNetLike())
    data = _img((2, 3, 8, 8))
    mapping = get_default_qconfig_mapping("qnnpack")
    report = ns.quantization_report(m, _fx_quantize(m, data, mapping), data)
    add = next(row for row in report.layers if row["type"] == "add+relu")
    report.layers = [add]  # skip just the add: not its whole (top-level) module
    report.skip_worst(1, mapping)
    qm2 = _fx_quantize(m, data, mapping)
    assert [(f["op"], f["module"]) for f in qm2.fallbacks] == [("add", None)]
    assert {"conv1", "conv2", "fc"} <= set(qm2.quantized_weights)
    r2 = ns.quantization_report(m, qm2, data)
    assert {row["name"] for row in r2.layers} == {"conv1", "conv2", "fc"}
    with pytest.raises(TypeError, match="QConfigMapping given to prepare_fx"):
        report.skip_worst(1, m)


def test_graph_report_warns_for_another_float_model(kernels):
    m = _rand_bn(_ConvBnRelu())
    data = _img((2, 3, 8, 8))
    qm = _fx_quantize(m, data)
    other = _rand_bn(_ConvBnRelu(), seed=5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ns.quantization_report(other, qm, data)
    assert any("not the model given to prepare_fx" in str(x.message) or
               "differs from the float graph" in str(x.message) for x in w)
    with pytest.raises(ValueError, match="sort_by must be"):
        ns.quantization_report(m, qm, data, sort_by="weight")

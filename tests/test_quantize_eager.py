"""Eager-mode static quantization (QuantStub/DeQuantStub, fuse_modules, prepare, convert,
quantize) against torch 2.13 on the same weights and data."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import ptlite
from _script_exec import exec_script

pq = ptlite.quantization
tq = torch.ao.quantization

# The example of torch's eager-mode static quantization docs, unchanged except that the
# model is built by build() and the flow runs in run() so the test can share weights.
EXAMPLE = '''
import torch

# define a floating point model where some layers could be statically quantized
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        # QuantStub converts tensors from floating point to quantized
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.nn.Conv2d(1, 1, 1)
        self.relu = torch.nn.ReLU()
        # DeQuantStub converts tensors from quantized to floating point
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        # manually specify where tensors will be converted from floating
        # point to quantized in the quantized model
        x = self.quant(x)
        x = self.conv(x)
        x = self.relu(x)
        # manually specify where tensors will be converted from quantized
        # to floating point in the quantized model
        x = self.dequant(x)
        return x


def build():
    return M()


def run(model_fp32, input_fp32):
    # model must be set to eval mode for static quantization logic to work
    model_fp32.eval()
    model_fp32.qconfig = torch.ao.quantization.get_default_qconfig('x86')
    model_fp32_fused = torch.ao.quantization.fuse_modules(model_fp32, [['conv', 'relu']])
    model_fp32_prepared = torch.ao.quantization.prepare(model_fp32_fused)
    model_fp32_prepared(input_fp32)
    model_int8 = torch.ao.quantization.convert(model_fp32_prepared)
    res = model_int8(input_fp32)
    return model_fp32_prepared, model_int8, res
'''


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _copy_weights(model_p, model_t):
    model_t.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                             model_p.state_dict().items()})


def _norm_repr(m) -> str:
    """repr with torch./ptlite. prefixes and numbers removed, for structural comparison."""
    s = repr(m).replace("ptlite.", "torch.")
    return re.sub(r"-?\d+\.\d+(e-?\d+)?", "#", s)


def test_doc_example_runs_unchanged_and_matches_torch():
    ours = exec_script(EXAMPLE, "eager_example.py", with_ptlite=True)
    theirs = exec_script(EXAMPLE, "eager_example.py", with_ptlite=False)
    assert ours["torch"] is ptlite
    mp, mt = ours["build"](), theirs["build"]()
    _copy_weights(mp, mt)
    x = np.random.randn(4, 1, 4, 4).astype(np.float32)
    prep_p, int8_p, res_p = ours["run"](mp, ptlite.tensor(x))
    prep_t, int8_t, res_t = theirs["run"](mt, torch.from_numpy(x))
    assert _norm_repr(prep_p) == _norm_repr(prep_t)
    assert _norm_repr(int8_p) == _norm_repr(int8_t)
    # the observers are bit-exact with torch's: same input scale / zero point
    assert float(int8_p.quant.scale) == float(int8_t.quant.scale)
    assert int(int8_p.quant.zero_point) == int(int8_t.quant.zero_point)
    assert int8_p.conv.scale == pytest.approx(int8_t.conv.scale, rel=1e-6)
    assert int8_p.conv.zero_point == int8_t.conv.zero_point
    np.testing.assert_array_equal(int8_p.conv.weight().int_repr().numpy(),
                                  int8_t.conv.weight().int_repr().numpy())
    lsb = int8_t.conv.scale
    diff = np.abs(res_p.numpy() - res_t.numpy()) / lsb
    assert diff.max() <= 1.0 + 1e-4, diff.max()


# ---- fuse_modules -------------------------------------------------------------------

def _pair_models(build):
    """Builds the same module in ptlite and torch (torch gets ptlite's weights and bn
    statistics)."""
    mp = build(ptlite)
    mt = build(torch)
    for m in mp.modules():
        if isinstance(m, ptlite.nn.BatchNorm2d) or isinstance(m, ptlite.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(ptlite.tensor(np.random.randn(n).astype(np.float32)))
            m.running_var.copy_(ptlite.tensor(np.random.rand(n).astype(np.float32) + 0.5))
            m.weight.data.copy_(ptlite.tensor(np.random.randn(n).astype(np.float32)))
            m.bias.data.copy_(ptlite.tensor(np.random.randn(n).astype(np.float32)))
    _copy_weights(mp, mt)
    return mp.eval(), mt.eval()


def _convbn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1),
                         nn.ReLU(), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 16), nn.BatchNorm1d(16), nn.Linear(16, 5),
                         nn.ReLU())


_GROUPS = [["0", "1", "2"], ["3", "4"], ["5", "6"], ["7", "8"], ["10", "11"], ["12", "13"]]


def test_fuse_modules_matches_torch():
    mp, mt = _pair_models(_convbn)
    fp = pq.fuse_modules(mp, _GROUPS)
    ft = tq.fuse_modules(mt, _GROUPS)
    assert _norm_repr(fp) == _norm_repr(ft)
    sp, st = fp.state_dict(), ft.state_dict()
    assert list(sp) == list(st)
    for k in st:
        np.testing.assert_allclose(sp[k].numpy(), st[k].numpy(), rtol=1e-6, atol=1e-6)
    x = np.random.randn(2, 3, 8, 8).astype(np.float32)
    np.testing.assert_allclose(fp(ptlite.tensor(x)).numpy(),
                               ft(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    # the original is untouched (inplace=False)
    assert isinstance(mp[1], ptlite.nn.BatchNorm2d)
    assert isinstance(fp[0], ptlite.nn.intrinsic.ConvReLU2d)
    assert isinstance(fp[1], ptlite.nn.Identity)


def test_fuse_modules_single_list_and_inplace():
    mp, _ = _pair_models(_convbn)
    out = pq.fuse_modules(mp, ["3", "4"], inplace=True)
    assert out is mp and isinstance(mp[4], ptlite.nn.Identity)


def test_fuse_modules_errors():
    mp, _ = _pair_models(_convbn)
    with pytest.raises(AssertionError, match="did not find fuser method"):
        pq.fuse_modules(mp, [["0", "2"], ["9", "10"]])
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        pq.fuse_modules(mp, [["0", "nope"]])
    mp.train()
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        pq.fuse_modules(mp, [["3", "4"]])
    mp[3].eval()
    with pytest.raises(AssertionError, match="same mode"):
        pq.fuse_modules(mp, [["3", "4"]])


def test_fuse_modules_qat_keeps_bn():
    mp, _ = _pair_models(_convbn)
    mp.train()
    f = pq.fuse_modules_qat(mp, [["0", "1", "2"], ["3", "4"]])
    assert type(f[0]) is ptlite.nn.intrinsic.ConvBnReLU2d
    assert type(f[3]) is ptlite.nn.intrinsic.ConvBn2d


# ---- prepare / convert ------------------------------------------------------------

def _net(lib):
    nn = lib.nn
    q = lib.ao.quantization

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = q.QuantStub()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.bn1 = nn.BatchNorm2d(6)
            self.relu1 = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.skip = nn.quantized.FloatFunctional()
            self.conv3 = nn.Conv2d(6, 8, 3, stride=2, groups=2)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(8 * 6 * 6, 32)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(32, 10)
            self.dequant = q.DeQuantStub()

        def forward(self, x):
            x = self.quant(x)
            x = self.pool(self.relu1(self.bn1(self.conv1(x))))
            x = self.skip.add_relu(x, self.relu2(self.conv2(x)))
            x = self.flatten(self.conv3(x))
            x = self.fc2(self.relu3(self.fc1(x)))
            return self.dequant(x)

    return Net()


_NET_FUSE = [["conv1", "bn1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]


def _quantize_pair(qconfig_name, engine="qnnpack", n_batches=4):
    mp, mt = _pair_models(_net)
    data = [np.random.randn(8, 1, 28, 28).astype(np.float32) for _ in range(n_batches)]
    results = []
    for lib, m, q in ((ptlite, mp, pq), (torch, mt, tq)):
        m.qconfig = q.get_default_qconfig(qconfig_name)
        f = q.fuse_modules(m, _NET_FUSE)
        p = q.prepare(f)
        for d in data:
            p(lib.tensor(d) if lib is ptlite else torch.from_numpy(d))
        results.append((p, q.convert(p)))
    return results, data


def test_prepare_and_convert_match_torch(qnnpack):
    ((prep_p, int8_p), (prep_t, int8_t)), data = _quantize_pair("qnnpack")
    assert _norm_repr(prep_p) == _norm_repr(prep_t)
    assert _norm_repr(int8_p) == _norm_repr(int8_t)
    # the input observer saw the same data: identical qparams
    assert float(int8_p.quant.scale) == float(int8_t.quant.scale)
    # weights: same fused float weights up to rounding -> int8 weights within 1
    for name in ("conv1", "conv2", "conv3", "fc1", "fc2"):
        wp = getattr(int8_p, name).weight()
        wt = getattr(int8_t, name).weight()
        assert wp.qscheme() is ptlite.per_tensor_affine
        d = np.abs(wp.int_repr().numpy().astype(int) - wt.int_repr().numpy().astype(int))
        assert d.max() <= 1 and (d == 0).mean() > 0.99, name
        assert getattr(int8_p, name).scale == pytest.approx(getattr(int8_t, name).scale,
                                                            rel=1e-3)
    x = np.random.randn(16, 1, 28, 28).astype(np.float32)
    yp = int8_p(ptlite.tensor(x)).numpy()
    yt = int8_t(torch.from_numpy(x)).numpy()
    lsb = int8_t.fc2.scale
    diff = np.round(np.abs(yp - yt) / lsb)
    exact = float((diff == 0).mean())
    print(f"eager int8 Net vs torch qnnpack: exact {exact:.4f}, max {diff.max():.0f} LSB")
    assert exact >= 0.95 and diff.max() <= 2


def test_per_channel_qconfig_quantizes_weights_per_channel(qnnpack):
    mp, _ = _pair_models(_net)
    mp.qconfig = pq.get_default_qconfig("x86")
    p = pq.prepare(pq.fuse_modules(mp, _NET_FUSE))
    p(ptlite.randn(2, 1, 28, 28))
    q = pq.convert(p)
    w = q.conv1.weight()
    assert w.qscheme() is ptlite.per_channel_affine and tuple(w.q_per_channel_axis() for _ in
                                                               [0]) == (0,)
    assert "qscheme=torch.per_channel_affine" in _norm_repr(q.fc1)


def test_quantize_runs_calibration_function():
    mp, _ = _pair_models(_net)
    mp.qconfig = pq.get_default_qconfig("qnnpack")
    seen = []

    def calib(model, batches):
        for b in batches:
            seen.append(tuple(b.shape))
            model(b)

    q = pq.quantize(mp, calib, [[ptlite.randn(2, 1, 28, 28)]])
    assert seen == [(2, 1, 28, 28)]
    assert type(q.conv2).__name__ == "Conv2d" and q.conv2._get_name() == "QuantizedConv2d"
    assert not hasattr(mp.conv1, "activation_post_process")  # original untouched


def test_quant_wrapper_and_add_quant_dequant():
    lin = ptlite.nn.Linear(4, 3).eval()
    lin.qconfig = pq.default_qconfig
    w = pq.add_quant_dequant(lin)
    assert isinstance(w, pq.QuantWrapper)
    p = pq.prepare(w)
    p(ptlite.randn(5, 4))
    q = pq.convert(p)
    assert q.module._get_name() == "QuantizedLinear"
    out = q(ptlite.randn(5, 4))
    assert out.dtype == ptlite.float32 and tuple(out.shape) == (5, 3)


def test_no_qconfig_warns_and_mixed_precision():
    mp, _ = _pair_models(_net)
    with pytest.warns(UserWarning, match="None of the submodule got qconfig applied"):
        warnings.simplefilter("always")
        pq.prepare(mp)
    mp.qconfig = pq.get_default_qconfig("qnnpack")
    mp.fc2.qconfig = None  # stays float: needs a dequant before it in a real model
    p = pq.prepare(mp)
    assert not hasattr(p.fc2, "activation_post_process")
    assert hasattr(p.fc1, "activation_post_process")


# ---- bad input ----------------------------------------------------------------------

def test_convert_unprepared_model_raises():
    mp, _ = _pair_models(_net)
    with pytest.raises(RuntimeError, match="no observers.*prepare"):
        pq.convert(mp)


def test_convert_uncalibrated_model_names_module():
    mp, _ = _pair_models(_net)
    mp.qconfig = pq.get_default_qconfig("qnnpack")
    p = pq.prepare(mp)
    with pytest.raises(RuntimeError, match=r"observer of .* has seen no data"):
        pq.convert(p)


def test_impossible_qconfig_range_names_module():
    mp, _ = _pair_models(_net)
    mp.qconfig = pq.QConfig(
        activation=pq.MinMaxObserver.with_args(quant_min=5, quant_max=3),
        weight=pq.default_weight_observer)
    with pytest.raises(AssertionError, match=r"prepare: cannot build the output observer of "
                                             r"quant \(QuantStub\).*must include 0"):
        pq.prepare(mp)
    # torch accepts this one and then produces zero points outside quint8; ptlite refuses
    mp.qconfig = pq.QConfig(
        activation=pq.MinMaxObserver.with_args(quant_min=0, quant_max=300),
        weight=pq.default_weight_observer)
    with pytest.raises(ValueError, match=r"quant \(QuantStub\) asks for the quantized range "
                                         r"\[0, 300\], which ptlite.quint8 cannot hold"):
        pq.prepare(mp)


def test_calibration_data_of_wrong_shape_names_module():
    mp, _ = _pair_models(_net)
    mp.qconfig = pq.get_default_qconfig("qnnpack")
    p = pq.prepare(mp)
    with pytest.raises(RuntimeError, match=r"^conv1 \(Conv2d\): .*conv2d"):
        p(ptlite.randn(2, 3, 28, 28))


def test_quantized_module_fed_float_names_module():
    ((_, int8_p), _), _ = _quantize_pair("qnnpack", n_batches=1)
    with pytest.raises(RuntimeError, match=r"^conv2 \(QuantizedConvReLU2d\): .*quint8"):
        int8_p.conv2(ptlite.randn(1, 6, 14, 14))


def test_from_float_without_qconfig():
    with pytest.raises(RuntimeError, match="no output observer"):
        ptlite.nn.quantized.Conv2d.from_float(ptlite.nn.Conv2d(1, 1, 1))


# ---- modules ----------------------------------------------------------------------

def test_quantized_module_state_dict_round_trip():
    ((_, int8_p), _), _ = _quantize_pair("qnnpack", n_batches=1)
    sd = int8_p.state_dict()
    assert {"conv2.weight", "conv2.bias", "conv2.scale", "conv2.zero_point", "quant.scale",
            "quant.zero_point"} <= set(sd)
    assert sd["conv2.weight"].dtype == ptlite.qint8
    ((_, other), _), _ = _quantize_pair("qnnpack", n_batches=1)
    other.load_state_dict(sd)
    x = ptlite.randn(2, 1, 28, 28)
    np.testing.assert_array_equal(other(x).numpy(), int8_p(x).numpy())


def test_quantized_reprs_match_torch():
    # torch's qnnpack engine packs a missing bias as zeros and then prints no "bias=False";
    # its x86 engine (and ptlite) keep bias() None
    old = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    try:
        _check_reprs()
    finally:
        torch.backends.quantized.engine = old


def _check_reprs():
    assert _norm_repr(ptlite.nn.quantized.Conv2d(16, 33, 3, stride=2, padding=1, groups=1,
                                                 bias=False)) == \
        _norm_repr(torch.ao.nn.quantized.Conv2d(16, 33, 3, stride=2, padding=1, bias=False))
    assert _norm_repr(ptlite.nn.quantized.Linear(5, 3)) == \
        _norm_repr(torch.ao.nn.quantized.Linear(5, 3))
    assert repr(ptlite.nn.quantized.Quantize(0.5, 3, ptlite.quint8)).replace("ptlite", "torch") \
        == repr(torch.ao.nn.quantized.Quantize(0.5, 3, torch.quint8))
    assert repr(ptlite.nn.quantized.DeQuantize()) == repr(torch.ao.nn.quantized.DeQuantize())


def test_eager_quantized_model_exports_bit_identical(tmp_path):
    """An eager-converted int8 model traces, passes optimize_for_mobile, saves to .ptl with
    int8 weights (file about 1/4 of the float one) and runs in the lite runtime with the
    same bits as eager."""
    from ptlite.jit.mobile import _load_for_lite_interpreter
    from ptlite.utils.mobile_optimizer import optimize_for_mobile
    ((_, int8_p), _), _ = _quantize_pair("qnnpack", n_batches=2)
    float_p, _ = _pair_models(_net)
    x = ptlite.tensor(np.random.randn(3, 1, 28, 28).astype(np.float32))
    eager = int8_p(x).numpy()
    traced = optimize_for_mobile(ptlite.jit.trace(int8_p, x))
    hist = traced.op_histogram()
    assert hist["quantized_conv2d"] == 3 and hist["quantized_linear"] == 2
    assert hist["quantized_add"] == 1 and "conv2d" not in hist
    path = str(tmp_path / "int8.ptl")
    traced._save_for_lite_interpreter(path)
    lite = _load_for_lite_interpreter(path)
    np.testing.assert_array_equal(lite(x).numpy(), eager)
    fpath = str(tmp_path / "fp32.ptl")
    optimize_for_mobile(ptlite.jit.trace(float_p, x))._save_for_lite_interpreter(fpath)
    import os
    ratio = os.path.getsize(path) / os.path.getsize(fpath)
    assert 0.24 < ratio < 0.32, ratio

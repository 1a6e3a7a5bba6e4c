"""Graph-mode post-training quantization (ptlite.quantization.quantize_fx) against torch
2.13's torch.ao.quantization.quantize_fx (engine qnnpack) on the same weights.

Observed activation qparams and quantized weights must match torch exactly: they depend
only on the float calibration run. The int8 outputs need the quantized kernels; until
they land (the stubs raise "not implemented yet", float ops reject quint8) the `emulated`
fixture runs each missing kernel as dequantize -> float op -> quantize, and the tests
that compare int8 outputs with torch's skip with the reason.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF
from torch.ao.quantization import get_default_qconfig_mapping as t_default_mapping
from torch.ao.quantization import quantize_fx as tq

import ptlite
import ptlite.nn as pnn
import ptlite.nn.functional as PF
from ptlite._ops.table import _TABLE, op_id
from ptlite.quantization import _fx_graph as fxg
from ptlite.quantization.qconfig import QConfig, get_default_qconfig
from ptlite.quantization.qconfig_mapping import QConfigMapping, get_default_qconfig_mapping
from ptlite.quantization.quantize_fx import convert_fx, prepare_fx

_NAMES = {v[0]: k for k, v in _TABLE.items()}
_MISSING = ("not implemented yet", "quantized input", "not implemented for 'quint8'",
            "quantized inputs", "not supported for quantized")


def _missing(e: Exception) -> bool:
    return any(s in str(e) for s in _MISSING)


# ---- emulation of kernels that have not landed (tests only) ------------------------------
def _emulate(real):
    def deq(t):
        if t is not None and hasattr(t, "dtype") and t.dtype.is_quantized:
            return real(op_id("dequantize"), (t,))
        return t

    def q(t, s, z):
        return real(op_id("quantize_per_tensor"), (t,), (int(z), ptlite.quint8.code), (float(s),))

    def relu(t, flag):
        return real(op_id("relu"), (t,)) if flag else t

    def emu(op, ins, ints=(), floats=()):
        try:
            return real(op, ins, ints, floats)
        except Exception as e:  # noqa: BLE001
            if not _missing(e):
                raise
        name = _NAMES[op]
        if name == "quantized_conv2d":
            r = real(op_id("conv2d"), (deq(ins[0]), deq(ins[1]), ins[2]), ints[:7], ())
            return q(relu(r, ints[7]), floats[0], ints[8])
        if name == "quantized_conv_transpose2d":
            r = real(op_id("conv_transpose2d"), (deq(ins[0]), deq(ins[1]), ins[2]), ints[:9], ())
            return q(r, floats[0], ints[9])
        if name == "quantized_linear":
            r = real(op_id("linear"), (deq(ins[0]), deq(ins[1]), ins[2]), (), ())
            return q(relu(r, ints[0]), floats[0], ints[1])
        if name in ("quantized_add", "quantized_mul"):
            r = real(op_id(name[10:]), (deq(ins[0]), deq(ins[1])), (), ())
            return q(relu(r, ints[0]), floats[0], ints[1])
        if name == "quantized_cat":
            r = real(op_id("cat"), tuple(deq(t) for t in ins), (ints[0],), ())
            return q(r, floats[0], ints[1])
        if name in ("quantized_hardswish", "quantized_sigmoid"):
            return q(real(op_id(name[10:]), (deq(ins[0]),)), floats[0], ints[0])
        if name == "quantized_batch_norm":
            r = real(op_id("batch_norm"), (deq(ins[0]),) + tuple(ins[1:]), (), (floats[0],))
            return q(relu(r, ints[1]), floats[1], ints[0])
        if name == "quantized_leaky_relu":
            return q(real(op_id("leaky_relu"), (deq(ins[0]),), (), (floats[1],)), floats[0],
                     ints[0])
        # a float op on quint8: same qparams out (torch's share-qparams ops)
        x = ins[0]
        r = real(op, tuple(deq(t) for t in ins), ints, floats)
        return q(r, x.q_scale(), x.q_zero_point())
    return emu


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(fxg, "_call", _emulate(fxg._call))


# ---- models, written once for both libraries ---------------------------------------------
def _models(T, nn, F):
    class ConvBnRelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(8, 4, 3, stride=2)

        def forward(self, x):
            return self.conv2(self.relu(self.bn(self.conv(x))))

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(4)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + x)

    class CatPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.b = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8 * 2 * 2, 6)

        def forward(self, x):
            y = T.cat([F.relu(self.a(x)), self.b(x)], 1)
            y = self.pool(y)
            y = F.adaptive_avg_pool2d(y, (2, 2))
            y = T.flatten(y, 1)
            return self.fc(y)

    class WithSoftmax(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            y = self.conv(x)
            y = F.avg_pool2d(y, 2)
            y = T.mean(y, (2, 3))
            y = F.softmax(y, dim=1)
            return self.fc(y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 32)
            self.bn = nn.BatchNorm1d(32)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(32, 8)

        def forward(self, x):
            return self.fc2(self.relu(self.bn(self.fc1(x))))

    class MobileOps(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.r6 = nn.ReLU6()
            self.hs = nn.Hardswish()
            self.bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.sig = nn.Sigmoid()

        def forward(self, x):
            y = self.hs(self.r6(self.conv(x)))
            y = self.bn(y)  # after hardswish: not folded, a quantized batch norm
            y = y * self.sig(self.conv2(y))
            y = F.hardswish(F.leaky_relu(y, 0.1))
            return F.interpolate(y, scale_factor=2)

    class Deconv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
            self.up = nn.ConvTranspose2d(6, 4, 2, stride=2)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.up(F.relu(self.conv(x))))

    class InplaceBlock(nn.Module):  # torchvision's BasicBlock style: in-place relu, +=
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.b1 = nn.BatchNorm2d(4)
            self.relu = nn.ReLU(inplace=True)
            self.c2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.b2 = nn.BatchNorm2d(4)

        def forward(self, x):
            identity = x
            out = self.relu(self.b1(self.c1(x)))
            out = self.b2(self.c2(out))
            out += identity
            return self.relu(out)

    return {"mobile_ops": (MobileOps, (2, 3, 8, 8)),
            "inplace_block": (InplaceBlock, (2, 4, 6, 6)),
            "deconv": (Deconv, (2, 3, 8, 8)),
            "conv_bn_relu": (ConvBnRelu, (2, 3, 10, 10)),
            "residual": (Residual, (2, 4, 8, 8)),
            "cat_pool": (CatPool, (2, 3, 8, 8)),
            "softmax": (WithSoftmax, (2, 3, 9, 9)),
            "mlp": (MLP, (4, 16))}


T_MODELS = _models(torch, tnn, TF)
P_MODELS = _models(ptlite, pnn, PF)


def _pair(name: str, seed: int = 0):
    torch.manual_seed(seed)
    tm = T_MODELS[name][0]()
    # non-trivial batch-norm statistics so folding matters
    for mod in tm.modules():
        if isinstance(mod, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n) * 0.1)
            mod.running_var.copy_(torch.rand(n) + 0.5)
            mod.weight.data.copy_(torch.rand(n) + 0.5)
            mod.bias.data.copy_(torch.randn(n) * 0.1)
    tm.eval()
    pm = P_MODELS[name][0]()
    pm.load_state_dict({k: ptlite.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    pm.eval()
    return tm, pm, T_MODELS[name][1]


def _calib(shape, n=3, seed=1):
    g = np.random.default_rng(seed)
    return [g.standard_normal(shape).astype(np.float32) for _ in range(n)]


def _run_both(name, backend="qnnpack", p_mapping=None, t_mapping=None):
    tm, pm, shape = _pair(name)
    data = _calib(shape)
    t_mapping = t_mapping or t_default_mapping(backend)
    p_mapping = p_mapping or get_default_qconfig_mapping(backend)
    tp = tq.prepare_fx(tm, t_mapping, (torch.from_numpy(data[0]),))
    pp = prepare_fx(pm, p_mapping, (ptlite.tensor(data[0]),))
    for d in data:
        tp(torch.from_numpy(d))
        pp(ptlite.tensor(d))
    tc = tq.convert_fx(tp)
    pc = convert_fx(pp)
    return tc, pc, data


def _torch_qparams(tc, x):
    """(module name -> (scale, zp)) for quantized modules and the ordered list of
    (target, scale, zp) of every other quantized value torch's converted graph makes."""
    mods, funcs = {}, []

    class Interp(torch.fx.Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if isinstance(r, torch.Tensor) and r.is_quantized:
                if n.op == "call_module" and hasattr(self.module.get_submodule(n.target),
                                                     "scale"):
                    mods[n.target] = (r.q_scale(), r.q_zero_point())
                else:
                    funcs.append((str(n.target), r.q_scale(), r.q_zero_point()))
            return r

    Interp(tc).run(x)
    return mods, funcs


@pytest.mark.parametrize("name", sorted(T_MODELS))
@pytest.mark.parametrize("backend", ["qnnpack", "x86"])
def test_weights_and_qparams_match_torch(name, backend, qnnpack, emulated):
    tc, pc, data = _run_both(name, backend)
    # quantized weights: int_repr and scales exactly torch's (folded batch norms included)
    t_weights = {n: m.weight() for n, m in tc.named_modules() if hasattr(m, "weight")
                 and callable(m.weight)}
    assert sorted(t_weights) == sorted(pc.quantized_weights)
    for n, tw in t_weights.items():
        pw = pc.quantized_weights[n]
        np.testing.assert_array_equal(pw.int_repr().numpy(), tw.int_repr().numpy(), err_msg=n)
        if tw.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            np.testing.assert_array_equal(pw.q_per_channel_scales().numpy(),
                                          tw.q_per_channel_scales().numpy().astype(np.float32))
        else:
            assert np.float32(pw.q_scale()) == np.float32(tw.q_scale())
            assert pw.q_zero_point() == tw.q_zero_point()
    # activation qparams: modules by name, the rest in graph order
    mods, funcs = _torch_qparams(tc, torch.from_numpy(data[0]))
    # (torch's quantized sigmoid module keeps no scale: its output is fixed at 1/256)
    ours_mods = {e["module"]: (e["scale"], e["zero_point"]) for e in pc.node_qparams
                 if e["module"] is not None and e["op"] != "quantized_sigmoid"}
    assert ours_mods.keys() == mods.keys()
    pairs = [(ours_mods[k], mods[k], k) for k in mods]
    t_in = [(s, z) for t, s, z in funcs if "quantize_per_tensor" in t]
    p_in = [(e["scale"], e["zero_point"]) for e in pc.node_qparams
            if e["op"] == "quantize_per_tensor"]
    pairs += [(p_in[0], t_in[0], "input")]
    t_fn = [(s, z) for t, s, z in funcs if "quantized." in t or "cat" in t]
    p_fn = [(e["scale"], e["zero_point"]) for e in pc.node_qparams
            if e["module"] is None and e["op"] != "quantize_per_tensor"]
    assert len(p_fn) == len(t_fn)
    pairs += [(a, b, f"functional {k}") for k, (a, b) in enumerate(zip(p_fn, t_fn))]
    exact = sum(_same_qparams(a, b, where) for a, b, where in pairs)
    print(f"\n{name}/{backend}: activation qparams exactly torch's: {exact}/{len(pairs)}")


def _same_qparams(ours, theirs, where) -> bool:
    """Zero points equal; scales equal, or (when the float calibration activations
    differ in their last bits: the engines' float conv sums in another order) within
    2 float32 ulps. Returns whether they are bit-equal."""
    (s, z), (ts, tz) = ours, theirs
    assert z == tz, f"{where}: zero_point {z} != torch's {tz}"
    a, b = np.float32(s), np.float32(ts)
    assert abs(a - b) <= 2 * np.spacing(b), f"{where}: scale {a!r} != torch's {b!r}"
    return bool(a == b)


def _sqnr(ref: np.ndarray, x: np.ndarray) -> float:
    noise = np.sum((ref - x) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(ref ** 2) / noise)


@pytest.mark.parametrize("name", sorted(T_MODELS))
def test_emulated_outputs_close_to_fp32(name, qnnpack, emulated):
    tc, pc, data = _run_both(name)
    tm, pm, shape = _pair(name)
    x = data[0]
    ref = pm(ptlite.tensor(x)).numpy()
    ours = pc(ptlite.tensor(x)).numpy()
    theirs = tc(torch.from_numpy(x)).numpy()
    s_ours, s_theirs = _sqnr(ref, ours), _sqnr(ref, theirs)
    print(f"\n{name}: SQNR vs fp32 ours (emulated kernels) {s_ours:.1f} dB, torch "
          f"{s_theirs:.1f} dB")
    assert ours.shape == theirs.shape
    assert s_ours > s_theirs - 3.0


@pytest.mark.parametrize("name", sorted(T_MODELS))
def test_int8_outputs_match_torch(name, qnnpack):
    """Real kernels: outputs within 1 LSB of torch's on >= 99.9 % of elements."""
    if name == "mobile_ops":
        pytest.skip("torch's converted QuantizedBatchNorm2d is off by ~30 LSB on this model "
                    "(torch's int8 output SQNR vs fp32 is about -2 dB): compared with fp32 "
                    "in test_emulated_outputs_close_to_fp32 instead")
    tc, pc, data = _run_both(name)
    x = data[0]
    try:
        ours = pc(ptlite.tensor(x)).numpy()
    except Exception as e:  # noqa: BLE001
        if _missing(e):
            pytest.skip(f"quantized kernels not landed yet: {e}")
        raise
    theirs = tc(torch.from_numpy(x)).numpy()
    # the output scale: the last quantized op's
    scale = [e["scale"] for e in pc.node_qparams][-1]
    lsb = np.abs(ours - theirs) / scale
    within = np.mean(lsb <= 1.0 + 1e-3)
    exact = np.mean(lsb <= 1e-3)
    tm, pm, _ = _pair(name)
    ref = pm(ptlite.tensor(x)).numpy()
    print(f"\n{name}: within 1 LSB {within:.5f}, exact {exact:.5f}, SQNR ours "
          f"{_sqnr(ref, ours):.1f} dB torch {_sqnr(ref, theirs):.1f} dB")
    assert within >= 0.999


# ---- structure, fallbacks, mixed precision --------------------------------------------
def test_fallback_reported_for_op_without_kernel(emulated):
    tm, pm, shape = _pair("softmax")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    pp(x)
    qm = convert_fx(pp)
    ops = [f["op"] for f in qm.fallbacks]
    assert ops == ["softmax"]
    assert "no int8 kernel for 'softmax'" in qm.fallback_report()
    hist = qm.op_histogram()
    # the softmax sits between a dequantize and a quantize
    assert hist["dequantize"] == 2 and hist["quantize_per_tensor"] == 2
    assert hist["quantized_conv2d"] == 1 and hist["quantized_linear"] == 1
    code = qm.code
    assert "= quantized_conv2d(" in code and "# conv2d in module 'conv' (Conv2d)" in code
    assert "= softmax(" in code and "= conv2d(" in pp.code


def test_module_name_none_keeps_module_float(emulated, qnnpack):
    mapping = get_default_qconfig_mapping("qnnpack").set_module_name("conv2", None)
    t_mapping = t_default_mapping("qnnpack").set_module_name("conv2", None)
    tc, pc, data = _run_both("conv_bn_relu", p_mapping=mapping, t_mapping=t_mapping)
    assert "conv2" not in pc.quantized_weights and "conv" in pc.quantized_weights
    assert [f["module"] for f in pc.fallbacks] == ["conv2"]
    assert "qconfig is None (module 'conv2')" in pc.fallbacks[0]["reason"]
    assert isinstance(tc.conv2, tnn.Conv2d)  # torch keeps it float too
    # conv2 is float: the model's output equals running the float conv2 on the
    # dequantized int8 output of conv (no quantize after it)
    out = pc(ptlite.tensor(data[0]))
    assert out.dtype == ptlite.float32
    np.testing.assert_allclose(out.numpy(), tc(torch.from_numpy(data[0])).detach().numpy(),
                               atol=2e-2)


def test_per_channel_vs_per_tensor_weights(emulated):
    tm, pm, shape = _pair("conv_bn_relu")
    x = ptlite.tensor(_calib(shape)[0])
    per_channel = (ptlite.per_channel_affine, ptlite.per_channel_symmetric)
    for backend, want in (("qnnpack", False), ("x86", True), ("onednn", True)):
        pp = prepare_fx(pm, get_default_qconfig_mapping(backend), (x,))
        pp(x)
        w = convert_fx(pp).quantized_weights["conv"]
        assert (w.qscheme() in per_channel) == want, backend
        if want:
            assert w.q_per_channel_axis() == 0
            assert tuple(w.q_per_channel_scales().shape) == (8,)


def test_prepared_model_is_the_float_model(emulated):
    """Calibration runs the float graph: outputs equal the eager model's; the original
    model is left alone (mode and parameters)."""
    tm, pm, shape = _pair("residual")
    pm.train()
    before = {k: v.numpy().copy() for k, v in pm.state_dict().items()}
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    assert pm.training
    pm.eval()
    out = pp(x)
    np.testing.assert_allclose(out.numpy(), pm(x).numpy(), rtol=1e-5, atol=1e-6)
    for k, v in pm.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    names = [n for n, _ in pp.named_modules() if n.startswith("activation_post_process_")]
    assert len(names) == 4  # input, conv1 (+relu), conv2, add (+relu)


def test_two_inputs_tuple_output_and_shared_module(emulated):
    class Two(pnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = pnn.Conv2d(3, 4, 1)
            self.fc = pnn.Linear(4, 2)

        def forward(self, a, b):
            y = self.conv(a) + self.conv(b)  # one module called twice
            z = ptlite.flatten(PF.adaptive_avg_pool2d(y, 1), 1)
            return self.fc(z), y

    m = Two().eval()
    a, b = ptlite.randn(2, 3, 4, 4), ptlite.randn(2, 3, 4, 4)
    pp = prepare_fx(m, get_default_qconfig_mapping("qnnpack"), (a, b))
    pp(a, b)
    qm = convert_fx(pp)
    out, y = qm(a, b)
    assert tuple(out.shape) == (2, 2) and tuple(y.shape) == (2, 4, 4, 4)
    assert out.dtype == ptlite.float32 and y.dtype == ptlite.float32
    hist = qm.op_histogram()
    assert hist["quantized_conv2d"] == 2 and hist["quantized_add"] == 1
    assert hist["quantize_per_tensor"] == 2  # one per graph input
    ref_out, ref_y = m(a, b)
    assert _sqnr(ref_y.numpy(), y.numpy()) > 25
    assert qm.fallbacks == []


def test_fallback_report_text(emulated):
    tm, pm, shape = _pair("softmax")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack").set_module_name("fc", None),
                    (x,))
    pp(x)
    qm = convert_fx(pp)
    rep = qm.fallback_report()
    assert rep.splitlines()[0] == "2 op(s) run in float (dequantize -> op -> quantize):"
    assert "softmax in top-level forward: no int8 kernel for 'softmax'" in rep
    assert "linear in module 'fc': qconfig is None (module 'fc')" in rep
    assert [set(f) for f in qm.fallbacks] == [{"node", "op", "module", "reason"}] * 2


def test_functional_relu_and_add_fused(emulated):
    tm, pm, shape = _pair("residual")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    pp(x)
    qm = convert_fx(pp)
    hist = qm.op_histogram()
    assert "relu" not in hist and "batch_norm" not in hist and "add" not in hist
    add = [c for c in qm._compiled if _NAMES[c[0]] == "quantized_add"]
    assert len(add) == 1 and add[0][2][0] == 1  # relu flag
    conv = [c for c in qm._compiled if _NAMES[c[0]] == "quantized_conv2d"]
    assert [c[2][7] for c in conv] == [1, 0]  # F.relu fused into conv1 only
    assert qm.fallbacks == [] and "no float fallbacks" in qm.fallback_report()


def test_converted_model_traces_to_plain_graph(emulated, tmp_path):
    """jit.trace of the converted model records the dispatcher ops it runs; the .ptl
    file reproduces it. (With the emulation the recorded graph holds the emulating float
    ops; once the kernels land it holds quantized_linear.)"""
    tm, pm, shape = _pair("mlp")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    pp(x)
    qm = convert_fx(pp)
    sm = ptlite.jit.trace(qm, x)
    hist = sm.op_histogram()
    assert hist.get("quantize_per_tensor", 0) >= 1 and hist.get("dequantize", 0) >= 1
    path = tmp_path / "q.ptl"
    sm.save(str(path))
    loaded = ptlite.jit.load(str(path))
    out = loaded(x)
    np.testing.assert_array_equal(out.numpy(), qm(x).numpy())
    try:
        ptlite._ops.table.call(op_id("quantized_linear"), (ptlite.quantize_per_tensor(
            ptlite.zeros(1, 2), 1.0, 0, ptlite.quint8), ptlite.quantize_per_tensor(
            ptlite.zeros(2, 2), 1.0, 0, ptlite.qint8), None), (0, 0), (1.0,))
    except Exception as e:  # noqa: BLE001
        if _missing(e):
            return  # the emulated graph was checked above
        raise
    assert hist.get("quantized_linear", 0) == 2 and "linear" not in hist


def test_batch_size_may_change_after_tracing(emulated):
    tm, pm, shape = _pair("cat_pool")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    pp(ptlite.tensor(_calib((5, 3, 8, 8))[0]))
    qm = convert_fx(pp)
    assert tuple(qm(ptlite.tensor(_calib((7, 3, 8, 8))[0])).shape) == (7, 6)


# ---- bad input ------------------------------------------------------------------------
def test_convert_without_calibration_names_node():
    tm, pm, shape = _pair("conv_bn_relu")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    with pytest.raises(RuntimeError, match=r"conv2d in module 'conv'.*not seen any data"):
        convert_fx(pp)


def test_convert_unprepared_model():
    tm, pm, shape = _pair("conv_bn_relu")
    with pytest.raises(TypeError, match="convert_fx expects the model returned by prepare_fx"):
        convert_fx(pm)


def test_calibration_wrong_shape_names_module():
    tm, pm, shape = _pair("conv_bn_relu")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    with pytest.raises(RuntimeError, match=r"\[2, 5, 10, 10\].*module 'conv' \(Conv2d\)"):
        pp(ptlite.randn(2, 5, 10, 10))
    with pytest.raises(RuntimeError, match=r"module 'conv'"):
        pp(ptlite.randn(2, 3, 10))


def test_bad_qconfig_mapping_type():
    tm, pm, shape = _pair("mlp")
    with pytest.raises(AssertionError, match="qconfig_mapping must be a QConfigMapping"):
        prepare_fx(pm, get_default_qconfig("qnnpack"), (ptlite.randn(*shape),))


def test_qconfig_dict_accepted_and_global_none_is_float(emulated):
    tm, pm, shape = _pair("mlp")
    x = ptlite.tensor(_calib(shape)[0])
    with pytest.warns(FutureWarning, match="QConfig dictionary"):
        pp = prepare_fx(pm, {"": None}, (x,))
    pp(x)
    qm = convert_fx(pp)
    assert qm.quantized_weights == {}
    assert {f["op"] for f in qm.fallbacks} == {"linear", "relu"}
    np.testing.assert_allclose(qm(x).numpy(), pm(x).numpy(), rtol=1e-6, atol=1e-6)


def test_module_name_object_type_order(emulated):
    q = get_default_qconfig("qnnpack")
    tm, pm, shape = _pair("cat_pool")
    x = ptlite.tensor(_calib(shape)[0])
    mapping = QConfigMapping().set_global(q).set_module_name_object_type_order(
        "", pnn.Conv2d, 1, None)
    pp = prepare_fx(pm, mapping, (x,))
    pp(x)
    qm = convert_fx(pp)
    assert sorted(qm.quantized_weights) == ["a", "fc"]
    assert [f["module"] for f in qm.fallbacks] == ["b"]
    # regex and precedence: module name beats regex beats type
    mapping = (QConfigMapping().set_global(None).set_object_type(pnn.Conv2d, q)
               .set_module_name_regex("f.*", q).set_module_name("b", None))
    pp = prepare_fx(pm, mapping, (x,))
    pp(x)
    assert sorted(convert_fx(pp).quantized_weights) == ["a", "fc"]
    _ = QConfig  # (imported for readers: the qconfigs above are QConfig tuples)


def test_share_op_without_quint8_support_falls_back_and_is_reported():
    """A pooling op this build cannot run on quint8 runs in float between dequantize and
    quantize (same qparams in and out) and is reported; once it takes quint8 it runs on
    the int8 tensor directly."""
    tm, pm, shape = _pair("cat_pool")
    x = ptlite.tensor(_calib(shape)[0])
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    pp(x)
    qm = convert_fx(pp)  # no emulation: the real ops are probed
    q = ptlite.quantize_per_tensor(ptlite.zeros(1, 1, 4, 4), 1.0, 0, ptlite.quint8)
    try:
        PF.max_pool2d(q, 2)
        takes_quint8 = True
    except Exception:  # noqa: BLE001
        takes_quint8 = False
    pool = [f for f in qm.fallbacks if f["op"] == "max_pool2d"]
    if takes_quint8:
        assert pool == []
    else:
        assert pool == [{"node": 4, "op": "max_pool2d", "module": "pool",
                         "reason": "'max_pool2d' does not accept quint8 in this build"}]


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_zoo_models_match_torch(name, qnnpack, emulated):
    """Whole CNNs (ptlite.vision vs the torch re-statements in tests/_torch_models.py):
    every quantized weight is torch's bit for bit, every activation zero point equal; the
    scales agree to a few float32 ulps (the engines' float convs sum in different orders,
    so calibration min/max differ in the last bits, more so deeper in the network)."""
    import _torch_models as TM
    from ptlite.vision import models as PM
    torch.manual_seed(0)
    tm = getattr(TM, name)(num_classes=10).eval()
    pm = getattr(PM, name)(num_classes=10)
    pm.load_state_dict({k: ptlite.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    pm.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(np.float32)
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (ptlite.tensor(x),))
    pp(ptlite.tensor(x))
    qm = convert_fx(pp)
    tp = tq.prepare_fx(tm, t_default_mapping("qnnpack"), (torch.from_numpy(x),))
    tp(torch.from_numpy(x))
    tc = tq.convert_fx(tp)
    t_weights = {n: m.weight() for n, m in tc.named_modules()
                 if hasattr(m, "weight") and callable(m.weight)}
    assert sorted(t_weights) == sorted(qm.quantized_weights)
    for n, w in t_weights.items():
        np.testing.assert_array_equal(qm.quantized_weights[n].int_repr().numpy(),
                                      w.int_repr().numpy(), err_msg=n)
    mods, _ = _torch_qparams(tc, torch.from_numpy(x))
    ours = {e["module"]: (e["scale"], e["zero_point"]) for e in qm.node_qparams
            if e["module"]}
    assert ours.keys() == mods.keys()
    ulps = []
    for k, (s, z) in mods.items():
        assert ours[k][1] == z, k
        ulps.append(abs(np.float32(ours[k][0]) - np.float32(s)) / np.spacing(np.float32(s)))
    assert max(ulps) <= 64, max(ulps)
    assert qm.fallbacks == []
    ref = pm(ptlite.tensor(x)).numpy()
    s_ours, s_t = _sqnr(ref, qm(ptlite.tensor(x)).numpy()), _sqnr(ref, tc(
        torch.from_numpy(x)).detach().numpy())
    print(f"\n{name}: scales exact {sum(u == 0 for u in ulps)}/{len(ulps)} (max {max(ulps):.0f} "
          f"ulp); SQNR vs fp32 ours (emulated kernels) {s_ours:.1f} dB, torch {s_t:.1f} dB")
    assert s_ours > s_t - 3.0


def test_converted_model_is_in_eval_mode_and_optimizes_for_mobile():
    """A converted model goes straight into jit.trace -> optimize_for_mobile -> .ptl, as
    torch's flow does, with int8 weights in the file."""
    from ptlite.utils.mobile_optimizer import optimize_for_mobile
    pm = ptlite.nn.Sequential(ptlite.nn.Conv2d(3, 8, 3), ptlite.nn.ReLU(),
                              ptlite.nn.Conv2d(8, 4, 1)).eval()
    x = ptlite.randn(1, 3, 10, 10)
    pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (x,))
    assert not pp.training
    pp(x)
    qm = convert_fx(pp)
    assert not qm.training
    opt = optimize_for_mobile(ptlite.jit.trace(qm, x))
    hist = opt.op_histogram()
    assert hist.get("quantized_conv2d") == 2 and "conv2d" not in hist
    lite = ptlite.jit.mobile._load_for_lite_interpreter(opt._serialize())
    np.testing.assert_array_equal(lite(x).numpy(), qm(x).numpy())

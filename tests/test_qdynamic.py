"""Dynamic quantization (DYNAMIC_LINEAR, LINEAR_FP16, ptlite.nn.quantized.dynamic,
quantize_dynamic) against torch 2.13.

Oracle: torch's 'qnnpack' engine, whose dynamic linear ptlite reproduces bit for bit
(activation qparams from x's min/max, quint8 quantize, int32 accumulation, float
dequantize and bias). Linear outputs are therefore compared for exact equality.
Recurrent layers compose the linears with float sigmoid/tanh; those differ from
torch's in the last bit now and then, and such a difference can move one hidden
value across a rounding boundary when it is quantized for the next step. One
step of the activation grid changes a gate pre-activation by at most
x_scale * max|w| (about (2/255) * 0.5 = 4e-3 for these sizes), so the RNN tests
allow 4e-3 absolute and also require most outputs to agree to 1e-6.
float16 weights (torch's fbgemm fp16 path, x86 engine only) are compared at fp32
tolerance scaled by the dot-product length.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C
from ptlite._ops.qdynamic import linear_dynamic, linear_fp16
from ptlite.nn.quantized import dynamic as pnnqd
from ptlite.quantization._quantize_dynamic import quantize_dynamic as p_quantize_dynamic

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)

tq = torch.ao.quantization


@pytest.fixture
def x86():
    prev = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    yield
    torch.backends.quantized.engine = prev


def P(a) -> ptlite.Tensor:
    if isinstance(a, torch.Tensor):
        a = a.detach().numpy()
    return ptlite.tensor(np.ascontiguousarray(a))


def N(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.array(t.detach().numpy() if hasattr(t, "detach") else t.numpy())


def p_qweight(qw: torch.Tensor) -> ptlite.Tensor:
    """torch's quantized weight as a ptlite qint8 tensor with the same integers."""
    f = P(qw.dequantize())
    if qw.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        q = ptlite.quantize_per_tensor(f, qw.q_scale(), qw.q_zero_point(), ptlite.qint8)
    else:
        q = ptlite.quantize_per_channel(f, P(qw.q_per_channel_scales().float()),
                                        P(qw.q_per_channel_zero_points()),
                                        qw.q_per_channel_axis(), ptlite.qint8)
    assert np.array_equal(N(ptlite.int_repr(q)), N(qw.int_repr()))
    return q


def torch_qweight(w: torch.Tensor, per_channel: bool, affine: bool = False):
    if per_channel:
        obs = tq.PerChannelMinMaxObserver(
            dtype=torch.qint8, ch_axis=0,
            qscheme=torch.per_channel_affine if affine else torch.per_channel_symmetric)
        obs(w)
        s, z = obs.calculate_qparams()
        return torch.quantize_per_channel(w, s.double(), z.long(), 0, torch.qint8)
    obs = tq.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    obs(w)
    s, z = obs.calculate_qparams()
    return torch.quantize_per_tensor(w, float(s), int(z), torch.qint8)


def copy_float(tmod, pmod):
    pmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return pmod


def exact_rate(a, b) -> float:
    return float((np.asarray(a) == np.asarray(b)).mean()) if np.size(a) else 1.0


# ---- the op against torch.ops.quantized.linear_dynamic (qnnpack) ---------------------------
@pytest.mark.parametrize("rows", [1, 8, 32])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_linear_dynamic_op_bit_exact(qnnpack, backend, rows, per_channel, relu):
    g = torch.Generator().manual_seed(rows * 10 + per_channel)
    K, Nout = 75, 37
    w = torch.randn(Nout, K, generator=g) * 0.3
    b = torch.randn(Nout, generator=g)
    qw = torch_qweight(w, per_channel)
    x = torch.randn(rows, K, generator=g) * 2 + 0.3
    packed = torch.ops.quantized.linear_prepack(qw, b)
    op = torch.ops.quantized.linear_relu_dynamic if relu else torch.ops.quantized.linear_dynamic
    want = N(op(x, packed))
    got = N(linear_dynamic(P(x), p_qweight(qw), P(b), relu=relu))
    print(f"\nlinear_dynamic rows={rows} per_channel={per_channel} relu={relu} exact "
          f"{exact_rate(got, want):.4f}")
    assert np.array_equal(got, want)


@pytest.mark.parametrize("shape", [(2, 3, 40), (4, 1, 40), (0, 40)])
def test_linear_dynamic_op_nd_and_empty(qnnpack, backend, shape):
    g = torch.Generator().manual_seed(7)
    w = torch.randn(24, 40, generator=g)
    qw = torch_qweight(w, False)
    x = torch.randn(*shape, generator=g)
    packed = torch.ops.quantized.linear_prepack(qw, None)
    want = N(torch.ops.quantized.linear_dynamic(x, packed))
    got = N(linear_dynamic(P(x), p_qweight(qw), None))
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def test_linear_dynamic_reduce_range_matches_x86(x86):
    # torch's x86 engine honours reduce_range (activations on [0, 127]) and finishes with
    # an fma; ptlite's reduce_range follows both, bit for bit (tests/test_qdynamic_x86.py)
    g = torch.Generator().manual_seed(3)
    w = torch.randn(64, 100, generator=g) * 0.2
    b = torch.randn(64, generator=g)
    qw = torch_qweight(w, False)
    x = torch.randn(8, 100, generator=g) * 3
    want = N(torch.ops.quantized.linear_dynamic(x, torch.ops.quantized.linear_prepack(qw, b),
                                                 reduce_range=True))
    got = N(linear_dynamic(P(x), p_qweight(qw), P(b), reduce_range=True))
    assert np.array_equal(got, want)


# ---- SIMD kernel == reference, bit for bit -------------------------------------------------
def _run_both(fn):
    prev = _C.get_backend()
    try:
        _C.set_backend(0)
        fast = N(fn())
        _C.set_backend(1)
        ref = N(fn())
    finally:
        _C.set_backend(prev)
    return fast, ref


@pytest.mark.parametrize("rows,K,Nout", [(1, 1, 1), (3, 17, 5), (5, 33, 16), (4, 64, 17),
                                          (9, 130, 70), (2, 1024, 1024), (33, 300, 129)])
@pytest.mark.parametrize("scheme", ["tensor", "channel", "channel_affine"])
def test_simd_equals_reference(rows, K, Nout, scheme):
    g = torch.Generator().manual_seed(rows + K + Nout)
    w = torch.randn(Nout, K, generator=g) + (0.5 if scheme == "channel_affine" else 0.0)
    qw = p_qweight(torch_qweight(w, scheme != "tensor", scheme == "channel_affine"))
    b = P(torch.randn(Nout, generator=g))
    x = P(torch.randn(rows, K, generator=g) * 4 - 1)
    for rr in (False, True):
        for relu in (False, True):
            fast, ref = _run_both(lambda: linear_dynamic(x, qw, b, reduce_range=rr, relu=relu))
            assert np.array_equal(fast, ref), (rr, relu)


def test_simd_equals_reference_strided_and_extremes():
    g = torch.Generator().manual_seed(11)
    qw = p_qweight(torch_qweight(torch.randn(20, 48, generator=g), False))
    base = P(torch.randn(48, 6, generator=g))
    xt = base.transpose(0, 1)  # non-contiguous input
    fast, ref = _run_both(lambda: linear_dynamic(xt, qw, None))
    assert np.array_equal(fast, ref)
    want = N(linear_dynamic(xt.contiguous(), qw, None))
    assert np.array_equal(fast, want)
    for x in (ptlite.zeros(3, 48), ptlite.full((3, 48), 1e-9), ptlite.full((2, 48), -5.0),
              P(np.linspace(-1e4, 1e4, 96, dtype=np.float32).reshape(2, 48))):
        fast, ref = _run_both(lambda: linear_dynamic(x, qw, None))
        assert np.array_equal(fast, ref)


def test_simd_threads_deterministic():
    g = torch.Generator().manual_seed(5)
    qw = p_qweight(torch_qweight(torch.randn(512, 256, generator=g), True))
    x = P(torch.randn(16, 256, generator=g))
    prev = ptlite.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            ptlite.set_num_threads(n)
            outs.append(N(linear_dynamic(x, qw, None)))
    finally:
        ptlite.set_num_threads(prev)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


# ---- errors --------------------------------------------------------------------------------
def test_errors():
    x = ptlite.randn(3, 5)
    qw = ptlite.quantize_per_tensor(ptlite.randn(4, 5), 0.1, 0, ptlite.qint8)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: expected weight of dtype QInt8"):
        linear_dynamic(x, ptlite.randn(4, 5), None)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: expected weight of dtype QInt8"):
        linear_dynamic(x, ptlite.quantize_per_tensor(ptlite.randn(4, 5), 0.1, 0,
                                                     ptlite.quint8), None)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: .*3x6 and 5x4.*\[3, 6\].*\[4, 5\]"):
        linear_dynamic(ptlite.randn(3, 6), qw, None)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: bias must be 1-d .* 4, got \[5\]"):
        linear_dynamic(x, qw, ptlite.randn(5))
    with pytest.raises(RuntimeError, match=r"dynamic_linear: expected input of dtype float32"):
        linear_dynamic(ptlite.ones(3, 5, dtype=ptlite.int64), qw, None)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: input must be at least 1-d"):
        linear_dynamic(ptlite.tensor(1.0), qw, None)
    with pytest.raises(RuntimeError, match=r"dynamic_linear: weight must be 2-d .* \[20\]"):
        linear_dynamic(x, ptlite.quantize_per_tensor(ptlite.randn(20), 0.1, 0, ptlite.qint8),
                       None)
    with pytest.raises(RuntimeError, match=r"linear_fp16: expected weight of dtype Half"):
        linear_fp16(x, ptlite.randn(4, 5), None)
    with pytest.raises(RuntimeError, match=r"linear_fp16: .*\[3, 6\].*\[4, 5\]"):
        linear_fp16(ptlite.randn(3, 6), ptlite.randn(4, 5).half(), None)
    # torch: "quantization scale should be > 0" for a NaN input
    with pytest.raises(RuntimeError, match=r"dynamic_linear: quantization scale should be > 0"):
        linear_dynamic(ptlite.full((2, 5), float("nan")), qw, None)
    m = pnnqd.Linear(5, 4)
    with pytest.raises(RuntimeError, match="The dimension of input tensor should be larger"):
        m(ptlite.randn(5))


def test_module_errors_match_torch(qnnpack):
    tm = tq.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(5, 4)))[0]
    with pytest.raises(RuntimeError, match="The dimension of input tensor should be larger"):
        tm(torch.randn(5))
    with pytest.raises(AssertionError):
        pnnqd.Linear.from_float(ptlite.nn.Conv2d(1, 1, 1))


# ---- modules -------------------------------------------------------------------------------
@pytest.mark.parametrize("qconfig", ["default", "per_channel"])
@pytest.mark.parametrize("batch", [1, 8, 32])
def test_dynamic_linear_module(qnnpack, backend, qconfig, batch):
    torch.manual_seed(batch)
    tlin = torch.nn.Linear(48, 20)
    spec = {torch.nn.Linear: tq.per_channel_dynamic_qconfig} if qconfig == "per_channel" \
        else {torch.nn.Linear}
    tqm = tq.quantize_dynamic(torch.nn.Sequential(tlin), spec, dtype=torch.qint8)
    pspec = {ptlite.nn.Linear: ptlite.quantization.per_channel_dynamic_qconfig} \
        if qconfig == "per_channel" else {ptlite.nn.Linear}
    pqm = p_quantize_dynamic(ptlite.nn.Sequential(copy_float(tlin, ptlite.nn.Linear(48, 20))),
                             pspec, dtype=ptlite.qint8)
    assert repr(pqm).replace("ptlite.", "torch.") == repr(tqm)
    tw, pw = tqm[0].weight(), pqm[0].weight()
    assert pw.qscheme() is ptlite.per_tensor_affine if qconfig == "default" \
        else pw.qscheme() is ptlite.per_channel_affine
    assert np.array_equal(N(ptlite.int_repr(pw)), N(tw.int_repr()))
    if qconfig == "default":
        assert pw.q_scale() == np.float32(tw.q_scale())
    else:
        assert np.array_equal(N(pw.q_per_channel_scales()),
                              N(tw.q_per_channel_scales()).astype(np.float32))
    np.testing.assert_array_equal(N(pqm[0].bias()), N(tqm[0].bias()))
    for shape in ((batch, 48), (2, batch, 48)):
        x = torch.randn(*shape) * 1.5
        assert np.array_equal(N(pqm(P(x))), N(tqm(x)))


def test_dynamic_linear_x86_default_engine_close(x86):
    # torch's default engine quantizes activations on [0, 127] (reduce_range); ptlite's
    # engine here stays its default 'qnnpack', [0, 255]. Each input moves by at most one x86 step (x_scale127) between
    # the two, so |dy| <= x_scale127 * sum_k |w[n, k]|.
    torch.manual_seed(0)
    tlin = torch.nn.Linear(64, 16)
    tqm = tq.quantize_dynamic(torch.nn.Sequential(tlin), {torch.nn.Linear})
    pqm = p_quantize_dynamic(ptlite.nn.Sequential(copy_float(tlin, ptlite.nn.Linear(64, 16))),
                             {ptlite.nn.Linear})
    x = torch.randn(8, 64)
    scale127 = float(max(x.max(), 0) - min(x.min(), 0)) / 127
    bound = scale127 * N(tqm[0].weight().dequantize()).__abs__().sum(1).max()
    np.testing.assert_allclose(N(pqm(P(x))), N(tqm(x)), rtol=0, atol=bound)


def test_dynamic_linear_float16(x86):
    torch.manual_seed(1)
    tlin = torch.nn.Linear(96, 33)
    tqm = tq.quantize_dynamic(torch.nn.Sequential(tlin), {torch.nn.Linear}, dtype=torch.float16)
    pqm = p_quantize_dynamic(ptlite.nn.Sequential(copy_float(tlin, ptlite.nn.Linear(96, 33))),
                             {ptlite.nn.Linear}, dtype=ptlite.float16)
    assert repr(pqm).replace("ptlite.", "torch.") == repr(tqm)
    assert np.array_equal(N(pqm[0].weight()), N(tqm[0].weight()))
    for shape in ((1, 96), (8, 96), (3, 5, 96)):
        x = torch.randn(*shape)
        np.testing.assert_allclose(N(pqm(P(x))), N(tqm(x)), rtol=1e-5, atol=1e-5 * 96 ** 0.5)


def test_float16_weight_saturates_like_torch(x86):
    w = torch.tensor([[1e6, -1e6, 0.1]])
    tl = torch.nn.Linear(3, 1)
    tl.weight.data = w
    tqm = tq.quantize_dynamic(torch.nn.Sequential(tl), {torch.nn.Linear}, dtype=torch.float16)
    pqm = p_quantize_dynamic(ptlite.nn.Sequential(copy_float(tl, ptlite.nn.Linear(3, 1))),
                             {ptlite.nn.Linear}, dtype=ptlite.float16)
    assert np.array_equal(N(pqm[0].weight()), N(tqm[0].weight()))
    x = torch.tensor([[1.0, 0.5, 2.0]])
    np.testing.assert_allclose(N(pqm(P(x))), N(tqm(x)), rtol=1e-6)


@pytest.mark.parametrize("relu", [False, True])
def test_linear_fp16_op_backends(backend, relu):
    g = torch.Generator().manual_seed(2)
    w16 = torch.randn(40, 70, generator=g).half()
    b = torch.randn(40, generator=g)
    x = torch.randn(6, 70, generator=g)
    want = torch.nn.functional.linear(x, w16.float(), b)
    if relu:
        want = want.relu()
    got = N(linear_fp16(P(x), P(w16), P(b), relu=relu))
    np.testing.assert_allclose(got, N(want), rtol=1e-5, atol=1e-5)
    # NaN survives relu as in torch (one row: also on XNNPACK's path)
    xn = x[:1].clone()
    xn[0, 3] = float("nan")
    assert np.isnan(N(linear_fp16(P(xn), P(w16), P(b), relu=relu))).all()


def test_state_dict_roundtrip(qnnpack):
    torch.manual_seed(4)
    lin = ptlite.nn.Linear(12, 7)
    q = p_quantize_dynamic(ptlite.nn.Sequential(lin), {ptlite.nn.Linear})
    sd = q.state_dict()
    tsd = tq.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(12, 7))).state_dict()
    assert list(sd) == list(tsd)
    fresh = ptlite.nn.Sequential(pnnqd.Linear(12, 7))
    fresh.load_state_dict(sd)
    x = ptlite.randn(3, 12)
    assert np.array_equal(N(fresh(x)), N(q(x)))


def test_docs_example_runs_unchanged(qnnpack, monkeypatch):
    # torch's quantize_dynamic docstring example, run with `torch` bound to ptlite
    if not hasattr(ptlite.ao.quantization, "quantize_dynamic"):
        monkeypatch.setattr(ptlite.ao.quantization, "quantize_dynamic", p_quantize_dynamic,
                            raising=False)
    src = '''
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        x = self.fc(x)
        return x

model_fp32 = M()
model_int8 = torch.ao.quantization.quantize_dynamic(
    model_fp32,  # the original model
    {torch.nn.Linear},  # a set of layers to dynamically quantize
    dtype=torch.qint8)  # the target dtype for quantized weights
res = model_int8(input_fp32)
'''
    x = np.random.RandomState(0).randn(4, 4, 4, 4).astype(np.float32)
    pns = {"torch": ptlite, "input_fp32": P(x)}
    exec(src, pns)
    assert pns["model_int8"].fc._get_name() == "DynamicQuantizedLinear"
    assert type(pns["model_fp32"].fc) is ptlite.nn.Linear  # not inplace: a deep copy
    # the same script in torch, with the float weights ptlite drew
    tns2 = {"torch": torch, "input_fp32": torch.from_numpy(x),
            "w": {k: torch.from_numpy(N(v).copy())
                  for k, v in pns["model_fp32"].fc.state_dict().items()}}
    exec(src.replace("model_fp32 = M()", "model_fp32 = M()\nmodel_fp32.fc.load_state_dict(w)"),
         tns2)
    assert repr(pns["model_int8"]).replace("ptlite.", "torch.") == repr(tns2["model_int8"])
    assert np.array_equal(N(pns["res"]), N(tns2["res"]))


def test_quantize_dynamic_semantics(qnnpack):
    class Net(ptlite.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = ptlite.nn.Linear(4, 4)
            self.sub = ptlite.nn.Sequential(ptlite.nn.Linear(4, 4), ptlite.nn.ReLU())
            self.lstm = ptlite.nn.LSTM(4, 3)
            self.conv = ptlite.nn.Conv2d(1, 1, 1)

    net = Net()
    q = p_quantize_dynamic(net)  # default: Linear, LSTM, GRU and the cells
    assert isinstance(q.fc1, pnnqd.Linear) and isinstance(q.sub[0], pnnqd.Linear)
    assert isinstance(q.lstm, pnnqd.LSTM) and type(q.conv).__name__ == "Conv2d"
    assert type(net.fc1).__name__ == "Linear"  # deep copy: the input is untouched
    q = p_quantize_dynamic(net, {"sub": ptlite.quantization.default_dynamic_qconfig})
    assert isinstance(q.sub[0], pnnqd.Linear) and type(q.fc1).__name__ == "Linear"
    q = p_quantize_dynamic(net, {ptlite.nn.Linear: ptlite.quantization.default_dynamic_qconfig,
                                 "fc1": None})
    assert type(q.fc1).__name__ == "Linear" and isinstance(q.sub[0], pnnqd.Linear)
    q = p_quantize_dynamic(net, {"fc1"})
    assert isinstance(q.fc1, pnnqd.Linear) and type(q.sub[0]).__name__ == "Linear"
    same = p_quantize_dynamic(net, {ptlite.nn.Linear}, inplace=True)
    assert same is net and isinstance(net.fc1, pnnqd.Linear)
    # the root module itself is never swapped (torch converts children only)
    lone = ptlite.nn.Linear(3, 3)
    assert p_quantize_dynamic(lone) is not lone and type(p_quantize_dynamic(lone)).__name__ \
        == "Linear"


# ---- recurrent layers ----------------------------------------------------------------------
def _rnn_pair(kind, qconfig_spec=None, dtype="qint8", **kw):
    tcls, pcls = getattr(torch.nn, kind), getattr(ptlite.nn, kind)
    args = (10, 12) if "Cell" in kind else (10, 12)
    tm = tcls(*args, **kw)
    pm = copy_float(tm, pcls(*args, **kw))
    td, pd = getattr(torch, dtype), getattr(ptlite, dtype)
    tq_ = tq.quantize_dynamic(torch.nn.Sequential(tm), {tcls}, dtype=td)[0]
    pq_ = p_quantize_dynamic(ptlite.nn.Sequential(pm), {pcls}, dtype=pd)[0]
    assert repr(pq_).replace("ptlite.", "torch.") == repr(tq_)
    return tq_, pq_


def _close_rnn(got, want):
    got, want = np.asarray(got), np.asarray(want)
    diff = np.abs(got - want)
    rate = float((diff <= 1e-6).mean()) if diff.size else 1.0
    print(f" max diff {diff.max() if diff.size else 0:.3g}, within 1e-6: {rate:.4f}", end="")
    assert diff.size == 0 or diff.max() <= 4e-3
    assert rate >= 0.99


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True),
                                 dict(batch_first=True, num_layers=2),
                                 dict(bidirectional=True, batch_first=True, num_layers=3)])
@pytest.mark.parametrize("batch", [1, 8])
def test_dynamic_rnn(qnnpack, kind, cfg, batch):
    torch.manual_seed(batch + len(cfg))
    tm, pm = _rnn_pair(kind, **cfg)
    T = 6
    shape = (batch, T, 10) if cfg.get("batch_first") else (T, batch, 10)
    x = torch.randn(*shape)
    dirs = 2 if cfg.get("bidirectional") else 1
    h0 = torch.randn(cfg.get("num_layers", 1) * dirs, batch, 12)
    if kind == "LSTM":
        c0 = torch.randn_like(h0)
        to, (th, tc) = tm(x, (h0, c0))
        po, (ph, pc) = pm(P(x), (P(h0), P(c0)))
        _close_rnn(N(pc), N(tc))
        to2, _ = tm(x)
        po2, _ = pm(P(x))
        _close_rnn(N(po2), N(to2))
    else:
        to, th = tm(x, h0)
        po, ph = pm(P(x), P(h0))
    _close_rnn(N(po), N(to))
    _close_rnn(N(ph), N(th))
    for name, w in pm.get_weight().items():
        assert np.array_equal(N(ptlite.int_repr(w)),
                              N(tm.get_weight()[name].int_repr())), name


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dynamic_rnn_unbatched_and_fp16(x86, kind):
    torch.manual_seed(3)
    tm, pm = _rnn_pair(kind, dtype="float16", num_layers=2)
    with pytest.raises(RuntimeError, match="input must have 3 dimensions, got 2"):
        tm(torch.randn(5, 10))
    with pytest.raises(RuntimeError, match="input must have 3 dimensions, got 2"):
        pm(ptlite.randn(5, 10))
    x = torch.randn(5, 3, 10)
    to, _ = tm(x)
    po, _ = pm(P(x))
    np.testing.assert_allclose(N(po), N(to), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("batch", [1, 8])
def test_dynamic_cells(qnnpack, kind, batch):
    torch.manual_seed(batch)
    tm, pm = _rnn_pair(kind)
    x = torch.randn(batch, 10)
    h = torch.randn(batch, 12)
    if kind == "LSTMCell":
        c = torch.randn(batch, 12)
        th, tc = tm(x, (h, c))
        ph, pc = pm(P(x), (P(h), P(c)))
        _close_rnn(N(pc), N(tc))
    else:
        th = tm(x, h)
        ph = pm(P(x), P(h))
    _close_rnn(N(ph), N(th))
    th0 = tm(x)
    ph0 = pm(P(x))
    _close_rnn(N(ph0[0] if kind == "LSTMCell" else ph0), N(th0[0] if kind == "LSTMCell"
                                                             else th0))
    tw = tm._weight_bias()["weight"]
    for name, w in pm.get_weight().items():
        tqw = tw[name]
        tqw = torch.ops.quantized.linear_unpack(tqw)[0] if not isinstance(tqw, torch.Tensor) \
            else tqw
        assert np.array_equal(N(ptlite.int_repr(w)), N(tqw.int_repr())), name


def test_rnn_errors(qnnpack):
    _, pm = _rnn_pair("LSTM")
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size"):
        pm(ptlite.randn(3, 2, 9))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 12\)"):
        pm(ptlite.randn(3, 2, 10), (ptlite.randn(1, 3, 12), ptlite.randn(1, 2, 12)))
    with pytest.raises(AssertionError):
        pnnqd.GRU.from_float(ptlite.nn.LSTM(2, 3))
    with pytest.raises(AssertionError, match="mod.bias must be True"):
        tq.quantize_dynamic(torch.nn.Sequential(torch.nn.LSTM(2, 3, bias=False)))
    with pytest.raises(AssertionError, match="mod.bias must be True"):
        p_quantize_dynamic(ptlite.nn.Sequential(ptlite.nn.LSTM(2, 3, bias=False)))
    _, pc = _rnn_pair("GRUCell")
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 9"):
        pc(ptlite.randn(2, 9))


def test_deepcopy_keeps_weights(qnnpack):
    q = p_quantize_dynamic(ptlite.nn.Sequential(ptlite.nn.Linear(6, 6), ptlite.nn.GRU(6, 4)))
    q2 = copy.deepcopy(q)
    x = ptlite.randn(2, 3, 6)
    assert np.array_equal(N(q2[0](x)), N(q[0](x)))

"""The fusion passes of optimize_for_mobile: fuse_activation (relu / relu6 /
hardtanh / clamp into conv2d and linear) and fuse_add_relu (relu into add).

Each case traces a small ptlite model, runs the pass on a clone of the graph and
checks: the exact number of nodes removed, outputs equal to the unfused graph
(bit-identical: both graphs run the same kernels and the fused store applies the
activation's own expression; inputs are finite, see fuse_activation.c for NaN),
idempotence, and that the traced module is untouched.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch as real_torch

import ptlite as torch
import ptlite.jit
from ptlite import _C, nn
from ptlite._ops.table import op_id

from conftest import assert_close, from_torch


def ops_of(g):
    return [n[0] for n in _C.graph_info(g)["nodes"]]


def run_pass(traced, name):
    """(optimized ScriptModule, pass result) for a pass run on a clone of the graph."""
    g2 = _C.graph_clone(traced._graph)
    res = _C.graph_pass(g2, name)
    return ptlite.jit.ScriptModule(g2, traced._in_spec, traced._out_spec), res


def outputs_equal(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for u, v in zip(a, b):
            outputs_equal(u, v)
        return
    a, b = a.numpy(), b.numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=0)
    # stronger and true for every case here: the same bits
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def check_fusion(model, x, name, removed, fused_op=None, expect_ops=None):
    model.eval()
    traced = ptlite.jit.trace(model, x)
    before = ops_of(traced._graph)
    ref = traced(x)
    opt, (rewrites, nodes_removed, detail) = run_pass(traced, name)
    after = ops_of(opt._graph)
    assert rewrites == removed and nodes_removed == removed, detail
    assert len(after) == len(before) - removed
    assert f"fused {removed}" in detail
    if expect_ops is not None:
        assert after == expect_ops
    outputs_equal(opt(x), ref)
    # the traced module is untouched (graph and results)
    assert ops_of(traced._graph) == before
    outputs_equal(traced(x), ref)
    # idempotent
    again = _C.graph_pass(opt._graph, name)
    assert again[0] == 0 and again[1] == 0
    assert ops_of(opt._graph) == after
    return traced, opt


class ConvAct(nn.Module):
    def __init__(self, act, linear=False):
        super().__init__()
        self.linear = linear
        self.op = nn.Linear(12, 7) if linear else nn.Conv2d(3, 8, 3, padding=1)
        self.act = act

    def forward(self, x):
        return self.act(self.op(x))


class Clamp(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return torch.clamp(x, **self.kw)


ACTS = {
    "relu": lambda: nn.ReLU(),
    "relu_inplace": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(),
    "relu6_inplace": lambda: nn.ReLU6(inplace=True),
    "hardtanh": lambda: nn.Hardtanh(-2.0, 3.0),
    "clamp_min": lambda: Clamp(min=0.5),
    "clamp_max": lambda: Clamp(max=-0.25),
    "clamp_both": lambda: Clamp(min=-0.5, max=0.75),
}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_fuse_activation(act, kind, backend):
    linear = kind == "linear"
    model = ConvAct(ACTS[act](), linear=linear)
    x = torch.randn(2, 12) * 2 if linear else torch.randn(1, 3, 10, 10) * 2
    op = "linear" if linear else "conv2d"
    traced, opt = check_fusion(model, x, "fuse_activation", 1, expect_ops=[op])
    info = _C.graph_info(opt._graph)["nodes"][0]
    ints, floats = info[1], info[2]
    assert (ints[7] if not linear else ints[0]) == 1
    lo, hi = {"relu": (0, np.inf), "relu_inplace": (0, np.inf), "relu6": (0, 6),
              "relu6_inplace": (0, 6), "hardtanh": (-2, 3), "clamp_min": (0.5, np.inf),
              "clamp_max": (-np.inf, -0.25), "clamp_both": (-0.5, 0.75)}[act]
    assert floats[:2] == (lo, hi)
    # the result is really clamped, and matches torch's unfused model
    y = opt(x).numpy()
    assert y.min() >= lo and y.max() <= hi
    tm = real_torch.nn.Linear(12, 7) if linear else real_torch.nn.Conv2d(3, 8, 3, padding=1)
    with real_torch.no_grad():
        tm.weight.copy_(real_torch.from_numpy(model.op.weight.numpy().copy()))
        tm.bias.copy_(real_torch.from_numpy(model.op.bias.numpy().copy()))
        ty = tm(real_torch.from_numpy(x.numpy().copy())).clamp(float(lo), float(hi))
    assert_close(opt(x), ty, rtol=1e-4, atol=1e-5)


def test_fuse_activation_output_name_and_save(tmp_path):
    model = ConvAct(nn.ReLU())
    x = torch.randn(1, 3, 6, 6)
    traced = ptlite.jit.trace(model.eval(), x)
    opt, _ = run_pass(traced, "fuse_activation")
    info = _C.graph_info(opt._graph)
    assert info["values"][info["outputs"][0]][3] == "output"
    # the fused attributes (incl. +inf) survive a save / load round trip
    path = tmp_path / "fused.ptl"
    opt.save(str(path))
    loaded = ptlite.jit.load(str(path))
    outputs_equal(loaded(x), opt(x))


class Chain(nn.Module):
    """conv -> relu -> clamp(max=4): both fold, the ranges intersect to [0, 4]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.clamp(torch.relu(self.conv(x)), max=4.0)


def test_fuse_activation_chain_intersects():
    x = torch.randn(1, 3, 5, 5) * 4
    traced, opt = check_fusion(Chain(), x, "fuse_activation", 2, expect_ops=["conv2d"])
    assert _C.graph_info(opt._graph)["nodes"][0][2][:2] == (0.0, 4.0)


class ConvInplaceReluReused(nn.Module):
    """relu_ in place, then the conv's value is read again and returned: every later
    reader sees the relu'd values, so the fold is still exact"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        torch.relu_(y)
        return y, y * 2


def test_fuse_activation_inplace_value_reused(backend):
    x = torch.randn(1, 3, 7, 7)
    check_fusion(ConvInplaceReluReused(), x, "fuse_activation", 1, expect_ops=["conv2d", "mul"])


class Residual(nn.Module):
    """torchvision BasicBlock tail: out = conv(x); out += x; relu_(out)."""

    def __init__(self, inplace=True):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.inplace = inplace

    def forward(self, x):
        out = self.conv(x)
        if self.inplace:
            out += x
        else:
            out = out + x
        return self.relu(out)


@pytest.mark.parametrize("inplace", [True, False])
def test_fuse_add_relu_residual(inplace, backend):
    x = torch.randn(1, 8, 9, 9)
    traced, opt = check_fusion(Residual(inplace), x, "fuse_add_relu", 1,
                               expect_ops=["conv2d", "add"])
    assert _C.graph_info(opt._graph)["nodes"][1][1] == (1,)
    assert opt(x).numpy().min() == 0.0
    # fuse_activation must not touch it: the conv output feeds the add
    assert _C.graph_pass(_C.graph_clone(traced._graph), "fuse_activation")[0] == 0


class AddRelu(nn.Module):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, a, b):
        return torch.relu(torch.add(a, b, alpha=self.alpha))


@pytest.mark.parametrize("alpha", [1.0, -2.5])
@pytest.mark.parametrize("shapes", [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (3, 1, 1)),
                                    ((4, 1), (1, 7)), ((), (3,)), ((0, 3), (3,))])
def test_fuse_add_relu_broadcast(alpha, shapes, backend):
    a, b = torch.randn(*shapes[0]), torch.randn(*shapes[1])
    model = AddRelu(alpha).eval()
    traced = ptlite.jit.trace(model, (a, b))
    opt, (rewrites, removed, detail) = run_pass(traced, "fuse_add_relu")
    assert rewrites == 1 and removed == 1, detail
    assert ops_of(opt._graph) == ["add"]
    outputs_equal(opt(a, b), traced(a, b))
    ta, tb = real_torch.from_numpy(a.numpy().copy()), real_torch.from_numpy(b.numpy().copy())
    assert_close(opt(a, b), real_torch.relu(real_torch.add(ta, tb, alpha=alpha)))


def test_fuse_add_relu_channels_last(backend):
    a = torch.randn(2, 16, 7, 7).contiguous(memory_format=torch.channels_last)
    b = torch.randn(2, 16, 7, 7).contiguous(memory_format=torch.channels_last)
    for bb in (b, torch.randn(16, 1, 1), b.contiguous()):  # same layout, broadcast, mixed
        traced = ptlite.jit.trace(AddRelu().eval(), (a, bb))
        opt, (rewrites, _, _) = run_pass(traced, "fuse_add_relu")
        assert rewrites == 1
        y = opt(a, bb)
        outputs_equal(y, traced(a, bb))
        ta, tb = real_torch.from_numpy(a.numpy().copy()), real_torch.from_numpy(bb.numpy().copy())
        assert_close(y, real_torch.relu(ta + tb))
    # same dense layouts keep the channels-last strides (preserve format)
    y = _C.call(op_id("add"), (a, b), (1,), None)
    assert y.stride() == a.stride()


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "float16"])
def test_add_op_fused_relu_direct(dtype, backend):
    a = (torch.randn(5, 6) * 4).to(getattr(torch, dtype))
    b = (torch.randn(6) * 4).to(getattr(torch, dtype))
    y = _C.call(op_id("add"), (a, b), (1,), None)
    expect = torch.relu(a + b)
    assert y.dtype == expect.dtype
    np.testing.assert_array_equal(y.numpy(), expect.numpy())
    assert (y.numpy() >= 0).all() and (y.numpy() == 0).any()
    # alpha still applies, and i[0] = 0 / absent is the plain add
    y2 = _C.call(op_id("add"), (a, b), (1,), (-2.0,))
    np.testing.assert_array_equal(y2.numpy(), torch.relu(torch.add(a, b, alpha=-2)).numpy())
    np.testing.assert_array_equal(_C.call(op_id("add"), (a, b), (0,), None).numpy(),
                                  (a + b).numpy())
    assert (_C.call(op_id("add"), (a, b), None, None).numpy() < 0).any()


def test_add_op_fused_relu_special_values(backend):
    a = torch.tensor([-1.0, 2.0, float("nan"), -0.0, 0.5, -3.0, float("inf"), -float("inf")])
    b = torch.tensor([0.5, -1.0, 1.0, -0.0, -0.5, 1.0, 1.0, 1.0])
    y = _C.call(op_id("add"), (a, b), (1,), None).numpy()
    r = torch.relu(a + b).numpy()
    assert np.array_equal(y.view(np.uint32), r.view(np.uint32))  # NaN stays, -0.0 kept
    assert np.isnan(y[2]) and np.signbit(y[3]) and y[6] == np.inf and y[7] == 0


def test_add_op_fused_relu_inplace_out(backend):
    a = torch.randn(3, 40)
    b = torch.randn(40)
    expect = torch.relu(a + b).numpy()
    out = a.clone()
    _C.call(op_id("add"), (out, b), (1,), None, out)
    np.testing.assert_array_equal(out.numpy(), expect)
    # a transposed (non-contiguous) out
    base = torch.zeros(40, 3)
    out_t = base.t()
    _C.call(op_id("add"), (a, b), (1,), None, out_t)
    np.testing.assert_array_equal(base.t().numpy(), expect)


def test_add_bad_flag_and_div_unchanged():
    a, b = torch.randn(3), torch.randn(3)
    with pytest.raises(ValueError, match="add"):
        _C.call(op_id("add"), (a, b), (2,), None)
    # DIV still reads i[0] as its rounding mode: 1 = trunc
    d = _C.call(op_id("div"), (a * 10, b), (1,), None)
    np.testing.assert_array_equal(d.numpy(), torch.div(a * 10, b, rounding_mode="trunc").numpy())


# ---- negative cases -----------------------------------------------------------------
class ConvTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y) + y


class ConvTwiceInplace(nn.Module):
    """the conv output is read before the in-place relu: fusing would change it"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        s = y.sum()
        torch.relu_(y)
        return y, s


class ConvOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y), y


class ReluInput(nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2


class ConvSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.lin(torch.sigmoid(self.conv(x)).mean((2, 3))))


class AddTwice(nn.Module):
    def forward(self, a, b):
        s = a + b
        return torch.relu(s), s * 2


class SubRelu(nn.Module):
    def forward(self, a, b):
        return torch.relu(a - b)


class AddRelu6(nn.Module):
    def forward(self, a, b):
        return torch.nn.functional.relu6(a + b)


NEGATIVE = [
    (ConvTwice, (1, 3, 6, 6), "fuse_activation"),
    (ConvTwiceInplace, (1, 3, 6, 6), "fuse_activation"),
    (ConvOut, (1, 3, 6, 6), "fuse_activation"),
    (ReluInput, (2, 5), "fuse_activation"),
    (ReluInput, (2, 5), "fuse_add_relu"),
    (ConvSigmoid, (1, 3, 6, 6), "fuse_activation"),
    (ConvSigmoid, (1, 3, 6, 6), "fuse_add_relu"),
    (AddTwice, ((3, 4), (3, 4)), "fuse_add_relu"),
    (SubRelu, ((3, 4), (3, 4)), "fuse_add_relu"),
    (AddRelu6, ((3, 4), (3, 4)), "fuse_add_relu"),
]


@pytest.mark.parametrize("cls,shape,name", NEGATIVE,
                         ids=[f"{c.__name__}-{n}" for c, _, n in NEGATIVE])
def test_no_fusion(cls, shape, name):
    xs = tuple(torch.randn(*s) for s in shape) if isinstance(shape[0], tuple) \
        else (torch.randn(*shape),)
    traced = ptlite.jit.trace(cls().eval(), xs if len(xs) > 1 else xs[0])
    info0 = _C.graph_info(traced._graph)
    opt, (rewrites, removed, _) = run_pass(traced, name)
    assert rewrites == 0 and removed == 0
    assert _C.graph_info(opt._graph)["nodes"] == info0["nodes"]
    outputs_equal(opt(*xs), traced(*xs))


def test_add_relu_int_not_fused():
    a = torch.randint(-5, 5, (3, 4))
    traced = ptlite.jit.trace(AddRelu().eval(), (a, a.clone()))
    _, (rewrites, _, _) = run_pass(traced, "fuse_add_relu")
    assert rewrites == 0  # only float32 adds are rewritten


def test_empty_range_not_fused():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return torch.clamp(torch.relu(self.lin(x)), max=-1.0)

    x = torch.randn(2, 3)
    traced = ptlite.jit.trace(M().eval(), x)
    opt, (rewrites, _, _) = run_pass(traced, "fuse_activation")
    assert rewrites == 1  # relu folds, clamp(max=-1) would leave an empty range
    assert ops_of(opt._graph) == ["linear", "clamp"]
    outputs_equal(opt(x), traced(x))


# ---- a network: every activation folds --------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.r1 = nn.ReLU(inplace=True)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.r2 = nn.ReLU6(inplace=True)
        self.c3 = nn.Conv2d(16, 16, 1)
        self.r3 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(16, 10)
        self.r4 = nn.Hardtanh(-2.0, 3.0)

    def forward(self, x):
        y = self.r1(self.c1(x))
        out = self.c3(self.r2(self.c2(y)))
        out += y
        out = self.r3(out)
        return self.r4(self.fc(out.mean((2, 3))))


def test_network_both_passes(backend):
    x = torch.randn(2, 3, 16, 16)
    traced = ptlite.jit.trace(Net().eval(), x)
    g = _C.graph_clone(traced._graph)
    assert _C.graph_pass(g, "fuse_activation")[:2] == (3, 3)
    assert _C.graph_pass(g, "fuse_add_relu")[:2] == (1, 1)
    assert ops_of(g) == ["conv2d", "conv2d", "conv2d", "add", "mean", "linear"]
    opt = ptlite.jit.ScriptModule(g, traced._in_spec, traced._out_spec)
    outputs_equal(opt(x), traced(x))


def test_add_relu_speed():
    """resnet18's residual join on [1, 64, 56, 56]: fused add+relu vs add then relu.

    One pass over memory instead of two; prints the timing (the assertion is
    generous: the machine is shared)."""
    a = torch.randn(1, 64, 56, 56).contiguous(memory_format=torch.channels_last)
    b = torch.randn(1, 64, 56, 56).contiguous(memory_format=torch.channels_last)
    add, relu = op_id("add"), op_id("relu")
    out = torch.empty_like(a)  # preallocated both ways: times the compute, not page faults

    def unfused():
        _C.call(add, (a, b), None, None, out)
        _C.call(relu, (out,), None, None, out)

    def fused():
        _C.call(add, (a, b), (1,), None, out)

    def best(fn, reps=200):
        fn()
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            ts.append((time.perf_counter() - t0) / reps)
        return min(ts)

    tu, tf = best(unfused), best(fused)
    print(f"\nadd+relu [1,64,56,56]: unfused {tu * 1e6:.1f} us, fused {tf * 1e6:.1f} us, "
          f"speedup {tu / tf:.2f}x")
    assert tf < tu * 1.1

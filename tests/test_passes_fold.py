"""Folding passes of optimize_for_mobile: conv_bn_fold, linear_bn_fold, constant_fold.

Each test traces a small ptlite model, runs a pass on a clone of the graph and
checks: the exact number of nodes removed, outputs within 1e-5 of the
unoptimized graph, the source module and its traced graph untouched, and that a
second run rewrites nothing. The reference is the unoptimized graph itself, so
these tests need no torch.
"""
import numpy as np
import pytest

import ptlite
from ptlite import _C, nn

RNG = np.random.default_rng(1234)


def randomize_bn(bn):
    """Non-trivial running statistics and affine parameters (eval-mode BN is then
    far from the identity, so a wrong fold shows)."""
    c = bn.num_features
    vals = [(bn.running_mean, RNG.normal(0, 1, c)), (bn.running_var, RNG.uniform(0.3, 3, c))]
    if bn.weight is not None:
        vals += [(bn.weight, RNG.normal(1, 0.5, c)), (bn.bias, RNG.normal(0, 1, c))]
    for t, v in vals:
        t.copy_(ptlite.tensor(v.astype(np.float32)))


def randomize(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            randomize_bn(m)
    return model.eval()


def ops(graph):
    return [n[0] for n in _C.graph_info(graph)["nodes"]]


def state(model):
    return {k: np.array(v.numpy()) for k, v in model.state_dict().items()}


def run_pass(traced, name):
    g = _C.graph_clone(traced._graph)
    rewrites, removed, detail = _C.graph_pass(g, name)
    return g, rewrites, removed, detail


def wrap(traced, g):
    return ptlite.jit.ScriptModule(g, traced._in_spec, traced._out_spec)


def max_rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def assert_close(ref, got):
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


def outs(result):
    """A model's output(s) as a list of numpy arrays (copies)."""
    result = result if isinstance(result, tuple) else (result,)
    return [np.array(r.numpy()) for r in result]


def check_pass(model, inputs, name, expect_rewrites, expect_removed, n_trials=3):
    """Runs `name` on a clone of the trace of `model`; returns (traced, optimized graph)."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    before = state(model)
    traced = ptlite.jit.trace(model, inputs)
    orig_ops = ops(traced._graph)
    ref_out = outs(traced(*inputs))
    g, rewrites, removed, detail = run_pass(traced, name)
    assert (rewrites, removed) == (expect_rewrites, expect_removed), detail
    assert len(ops(g)) == len(orig_ops) - expect_removed
    opt = wrap(traced, g)
    for trial in range(n_trials):
        xs = inputs if trial == 0 else tuple(ptlite.randn(*x.shape) for x in inputs)
        for ref, got in zip(outs(traced(*xs)), outs(opt(*xs))):
            assert_close(ref, got)
    # the source stays as it was: parameters, graph and outputs
    after = state(model)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    assert ops(traced._graph) == orig_ops
    for a, b in zip(outs(traced(*inputs)), ref_out):
        np.testing.assert_array_equal(a, b)
    # idempotent: nothing left to do
    node_list = _C.graph_info(g)["nodes"]
    again = _C.graph_pass(g, name)
    assert again[:2] == (0, 0), again
    assert _C.graph_info(g)["nodes"] == node_list
    return traced, g


# ---- conv_bn_fold --------------------------------------------------------------------
class BasicBlock(nn.Module):
    """resnet18's block with a downsampling shortcut: three conv+bn pairs."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.down(x))


def test_resnet_block_folds_every_bn(backend):
    model = randomize(nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16),
                                    nn.ReLU(), BasicBlock(16, 32, 2)))
    x = ptlite.randn(2, 3, 32, 32)
    traced, g = check_pass(model, x, "conv_bn_fold", 4, 4)
    assert "batch_norm" not in ops(g)
    assert ops(g).count("conv2d") == 4
    assert _C.graph_pass(_C.graph_clone(traced._graph), "conv_bn_fold")[2] == \
        "folded 4 batch_norm(s) into conv2d"
    err = max_rel_err(traced(x).numpy(), wrap(traced, g)(x).numpy())
    assert err < 1e-5


def test_folded_conv_gets_new_weight_and_bias_constants():
    model = randomize(nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)))
    traced, g = check_pass(model, ptlite.randn(1, 3, 6, 6), "conv_bn_fold", 1, 1)
    info = _C.graph_info(g)
    (conv,) = info["nodes"]
    assert len(conv[3]) == 3 and conv[3][2] >= 0  # a bias was added
    w = info["values"][conv[3][1]][4].numpy()
    b = info["values"][conv[3][2]][4].numpy()
    bn = model[1]
    s = bn.weight.numpy().astype(np.float64) / np.sqrt(bn.running_var.numpy() + bn.eps)
    np.testing.assert_allclose(w, model[0].weight.numpy() * s[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(b, bn.bias.numpy() - bn.running_mean.numpy() * s, rtol=1e-6,
                               atol=1e-6)


def test_conv_with_bias_and_bn_without_affine():
    model = randomize(nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6, affine=False),
                                    nn.ReLU()))
    check_pass(model, ptlite.randn(2, 4, 5, 5), "conv_bn_fold", 1, 1)


@pytest.mark.parametrize("groups", [2, 8])
def test_grouped_and_depthwise_conv(groups, backend):
    model = randomize(nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=groups),
                                    nn.BatchNorm2d(16), nn.ReLU6()))
    check_pass(model, ptlite.randn(2, 8, 7, 7), "conv_bn_fold", 1, 1)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_transpose_and_bn(groups):
    model = randomize(nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=groups,
                                                       bias=groups == 1),
                                    nn.BatchNorm2d(6)))
    _, g = check_pass(model, ptlite.randn(2, 4, 5, 5), "conv_bn_fold", 1, 1)
    assert ops(g) == ["conv_transpose2d"]


class TwoUses(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class ReturnsConv(TwoUses):
    def forward(self, x):
        y = self.conv(x)
        return y, self.bn(y)


@pytest.mark.parametrize("cls", [TwoUses, ReturnsConv])
def test_no_fold_when_conv_output_is_used_elsewhere(cls):
    model = randomize(cls())
    x = ptlite.randn(1, 3, 6, 6)
    traced = ptlite.jit.trace(model, x)
    g, rewrites, removed, detail = run_pass(traced, "conv_bn_fold")
    assert (rewrites, removed) == (0, 0)
    assert _C.graph_info(g)["nodes"] == _C.graph_info(traced._graph)["nodes"]


def test_graph_without_pattern_is_unchanged():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)).eval()
    traced = ptlite.jit.trace(model, ptlite.randn(1, 3, 4, 4))
    for name in ("conv_bn_fold", "linear_bn_fold", "constant_fold"):
        g, rewrites, removed, _ = run_pass(traced, name)
        assert (rewrites, removed) == (0, 0), name
        assert _C.graph_info(g)["nodes"] == _C.graph_info(traced._graph)["nodes"]


def test_bn_that_is_a_graph_output_folds():
    model = randomize(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    _, g = check_pass(model, ptlite.randn(1, 3, 6, 6), "conv_bn_fold", 1, 1)
    info = _C.graph_info(g)
    assert info["nodes"][0][4][0] == info["outputs"][0]


# ---- linear_bn_fold ------------------------------------------------------------------
def test_linear_then_bn1d(backend):
    model = randomize(nn.Sequential(nn.Linear(12, 7), nn.BatchNorm1d(7), nn.ReLU(),
                                    nn.Linear(7, 5, bias=False), nn.BatchNorm1d(5)))
    _, g = check_pass(model, ptlite.randn(4, 12), "linear_bn_fold", 2, 2)
    assert ops(g) == ["linear", "relu", "linear"]


def test_bn1d_then_linear(backend):
    model = randomize(nn.Sequential(nn.BatchNorm1d(9), nn.Linear(9, 4)))
    _, g = check_pass(model, ptlite.randn(6, 9), "linear_bn_fold", 1, 1)
    info = _C.graph_info(g)
    assert ops(g) == ["linear"]
    assert info["nodes"][0][3][0] == info["inputs"][0]  # reads the graph input directly


def test_bn1d_then_linear_without_bias_and_affine():
    model = randomize(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(9, affine=False),
                                    nn.Linear(9, 4, bias=False)))
    check_pass(model, ptlite.randn(6, 9), "linear_bn_fold", 1, 1)


def test_linear_bn_on_3d_input_is_not_folded():
    # BatchNorm1d on [N, C, L] normalizes dim 1, not the linear's feature dim
    model = randomize(nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(4)))
    traced = ptlite.jit.trace(model, ptlite.randn(2, 4, 6))
    _, rewrites, removed, _ = run_pass(traced, "linear_bn_fold")
    assert (rewrites, removed) == (0, 0)


def test_linear_bn_with_second_user_is_not_folded():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 5)
            self.bn = nn.BatchNorm1d(5)

        def forward(self, x):
            y = self.fc(x)
            return self.bn(y) * y

    traced = ptlite.jit.trace(randomize(M()), ptlite.randn(3, 5))
    _, rewrites, removed, _ = run_pass(traced, "linear_bn_fold")
    assert (rewrites, removed) == (0, 0)


class BnThenInPlaceThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(5)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        h = x * 1.0
        z = self.bn(h)
        h.relu_()  # changes the BN's input after the BN read it
        return self.fc(z) + h.sum()


def test_bn_then_linear_not_folded_across_an_in_place_write():
    model = randomize(BnThenInPlaceThenLinear())
    _, g = check_pass(model, ptlite.randn(4, 5), "linear_bn_fold", 0, 0)
    assert "batch_norm" in ops(g)


# ---- constant_fold -------------------------------------------------------------------
class ConstWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ptlite.randn(6, 3))

    def forward(self, x):
        return x @ (self.w * 2 + 1)


def test_constant_subgraph_folds_to_one_matmul(backend):
    traced, g = check_pass(ConstWeight(), ptlite.randn(4, 6), "constant_fold", 2, 2)
    assert ops(traced._graph) == ["mul", "add", "matmul"]
    assert ops(g) == ["matmul"]


class ConstView(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ptlite.randn(5, 6))
        self.b = nn.Parameter(ptlite.randn(5))

    def forward(self, x):
        # views of constants: each folds into its own contiguous copy
        return x @ self.w.t().exp() + self.b.reshape(1, 5)


def test_constant_views_fold_into_own_storage():
    model = ConstView()
    traced, g = check_pass(model, ptlite.randn(2, 6), "constant_fold", 3, 3)
    assert ops(g) == ["matmul", "add"]
    info = _C.graph_info(g)
    consts = [v[4] for v in info["values"] if v[0] == 1]
    for c in consts:
        assert c.is_contiguous()
    ptrs = {c._data_ptr for c in consts}
    assert model.w._data_ptr not in ptrs and model.b._data_ptr not in ptrs


class ReturnsConst(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ptlite.randn(3))

    def forward(self, x):
        return x + 1, (self.w * 2).exp()


def test_result_returned_is_not_folded():
    # the last node stays: a returned constant could be modified by the caller
    traced, g = check_pass(ReturnsConst(), ptlite.randn(3), "constant_fold", 1, 1)
    assert ops(g) == ["add", "exp"]
    opt = wrap(traced, g)
    out = opt(ptlite.randn(3))[1]
    expected = np.array(out.numpy())
    out.add_(100.0)
    np.testing.assert_array_equal(opt(ptlite.randn(3))[1].numpy(), expected)


class InPlaceOnConst(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ptlite.randn(4))

    def forward(self, x):
        y = self.w * 2
        y.add_(x)  # writes into the product: it must be recomputed each run
        return y * 3


def test_value_written_in_place_is_not_folded():
    _, g = check_pass(InPlaceOnConst(), ptlite.randn(4), "constant_fold", 0, 0)
    assert ops(g)[0] == "mul"


def test_random_ops_are_not_folded():
    fn = lambda x: x + ptlite.rand(3) * ptlite.ones(3)  # noqa: E731
    traced = ptlite.jit.trace(fn, ptlite.randn(3), check_trace=False)
    g, rewrites, removed, _ = run_pass(traced, "constant_fold")
    assert "rand" in ops(g)


def test_constant_fold_error_names_the_pass():
    with pytest.raises(Exception, match="unknown graph pass"):
        _C.graph_pass(_C.graph_clone(ptlite.jit.trace(ConstWeight(), ptlite.randn(1, 6))._graph),
                      "no_such_pass")


def test_passes_compose_on_a_mixed_model():
    model = randomize(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(8),
                                    nn.Linear(8, 4), nn.BatchNorm1d(4)))
    x = ptlite.randn(3, 3, 8, 8)
    traced = ptlite.jit.trace(model, x)
    g = _C.graph_clone(traced._graph)
    assert _C.graph_pass(g, "conv_bn_fold")[:2] == (1, 1)
    assert _C.graph_pass(g, "linear_bn_fold")[:2] == (2, 2)
    assert _C.graph_pass(g, "constant_fold")[:2] == (0, 0)
    assert "batch_norm" not in ops(g)
    assert_close(traced(x).numpy(), wrap(traced, g)(x).numpy())


def test_folded_graph_saves_loads_and_plans(tmp_path):
    from ptlite.jit.mobile import _load_for_lite_interpreter
    model = randomize(nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                    nn.Flatten(), nn.BatchNorm1d(8 * 4 * 4),
                                    nn.Linear(8 * 4 * 4, 3)))
    x = ptlite.randn(2, 3, 6, 6)
    traced = ptlite.jit.trace(model, x)
    g = _C.graph_clone(traced._graph)
    for name in ("conv_bn_fold", "linear_bn_fold", "constant_fold"):
        _C.graph_pass(g, name)
    assert ops(g) == ["conv2d", "relu", "reshape", "linear"]
    opt = wrap(traced, g)
    ref = traced(x).numpy()
    assert opt.planned_activation_bytes(x) > 0
    path = str(tmp_path / "folded.ptl")
    opt._save_for_lite_interpreter(path)
    lite = _load_for_lite_interpreter(path)
    assert_close(ref, lite(x).numpy())
    assert_close(ref, ptlite.jit.load(path)(x).numpy())

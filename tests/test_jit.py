"""jit.trace: graph capture, printing, checks, warnings and errors."""

import numpy as np
import pytest

import ptlite
from ptlite import nn


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # reads a tensor value: the trace keeps one branch
            return x * 2
        return x


def test_trace_function_runs_graph_bit_identical():
    x = ptlite.rand(3, 4)
    fn = lambda a: ptlite.relu(a * 2.0 - 1.0).sum(dim=1)  # noqa: E731
    traced = ptlite.jit.trace(fn, x)
    y = ptlite.rand(3, 4)
    assert np.array_equal(traced(y).numpy(), fn(y).numpy())
    hist = traced.op_histogram()
    assert hist == {"mul": 1, "sub": 1, "relu": 1, "sum": 1}


def test_graph_and_code_are_readable():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    traced = ptlite.jit.trace(model, ptlite.rand(2, 4))
    text = str(traced.graph)
    assert "%input : Float(2, 4)" in text
    assert "ptl::linear" in text and "ptl::relu" in text
    assert "%self.0.weight : Float(3, 4)" in text
    code = traced.code
    assert code.startswith("def forward(self, input):")
    assert "ops.linear(input, self.0.weight, self.0.bias" in code


def test_dict_and_tuple_outputs():
    fn = lambda a, b: {"sum": a + b, "pair": (a * b, b)}  # noqa: E731
    a, b = ptlite.rand(2), ptlite.rand(2)
    traced = ptlite.jit.trace(fn, (a, b))
    out = traced(a, b)
    assert set(out) == {"sum", "pair"}
    assert isinstance(out["pair"], tuple)
    np.testing.assert_array_equal(out["pair"][0].numpy(), (a * b).numpy())


def test_value_dependent_control_flow_warns_with_source_line():
    with pytest.warns(ptlite.jit.TracerWarning, match="Python boolean") as rec:
        ptlite.jit.trace(Branchy(), ptlite.ones(3))
    assert any(w.filename.endswith("test_jit.py") for w in rec)


def test_check_trace_reports_mismatch():
    def rand_noise(x):
        return x + ptlite.tensor(np.random.rand(*x.shape).astype(np.float32))
    # the random tensor is baked in as a constant: the re-run is identical, no error
    ptlite.jit.trace(rand_noise, ptlite.zeros(3))

    def dropout_train(x):
        return nn.functional.dropout(x, 0.5, training=True)
    with pytest.raises(ptlite.jit.TracingCheckError, match="does not reproduce"):
        ptlite.jit.trace(dropout_train, ptlite.ones(1000))


def test_wrong_input_shape_and_in_place_on_input():
    traced = ptlite.jit.trace(lambda a: a * 2, ptlite.rand(2, 3))
    with pytest.raises(RuntimeError, match=r"expected float32 \[2, 3\], got float32 \[3, 3\]"):
        traced(ptlite.rand(3, 3))
    with pytest.raises(ptlite.errors.UnsupportedError, match="writes in place into a graph input"):
        ptlite.jit.trace(lambda a: a.mul_(2), ptlite.rand(2))


def test_buffers_updated_in_place_are_recorded():
    """A traced training-mode BatchNorm updates its running statistics on every run,
    as torch's trace does."""
    bn = nn.BatchNorm1d(3).train()
    x = ptlite.rand(8, 3)
    with pytest.warns(ptlite.jit.TracerWarning):  # batch statistics go through NumPy
        traced = ptlite.jit.trace(bn, x, check_trace=False)
    assert any(n[0] == "copy" or n[0] == "add" for n in traced._info["nodes"])
    before = bn.num_batches_tracked.item()
    traced(x)
    assert bn.num_batches_tracked.item() == before + 1


def test_exception_inside_trace_leaves_no_tracer_behind():
    def bad(a):
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        ptlite.jit.trace(bad, ptlite.rand(2))
    # a new trace can start: the failed one was aborted
    traced = ptlite.jit.trace(lambda a: a + 1, ptlite.rand(2))
    assert traced.op_histogram() == {"add": 1}

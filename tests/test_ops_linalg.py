"""matmul / mm / bmm / dot / mv and nn.functional.linear against torch, on the fast
path and the reference kernels, plus the packed-weight cache of linear."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C
from conftest import assert_close

F = ptlite.nn.functional


def rnd(*shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed + 7919 * len(shape) + int(np.prod(shape) if shape else 1))
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def pair(a):
    return ptlite.from_numpy(a), torch.from_numpy(np.ascontiguousarray(a))


def tol(k):
    """float32 products over k terms: torch and ptlite sum in different orders."""
    return dict(rtol=1e-5, atol=2e-6 * max(k, 1) ** 0.5 * 4)


MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
    ((5, 2, 3), (3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)), ((5, 1, 2, 3), (4, 3, 5)),
    ((2, 1, 4, 3), (1, 6, 3, 2)), ((100, 70), (70, 33)), ((7, 130, 257), (257, 40)),
    ((0, 3), (3, 4)), ((2, 0), (0, 4)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4)),
    ((64, 1), (1, 64)), ((1, 300), (300, 1)), ((17, 19), (19, 23)), ((6, 16), (16, 16)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(backend, sa, sb):
    (a, ta), (b, tb) = pair(rnd(*sa)), pair(rnd(*sb, seed=1))
    assert_close(ptlite.matmul(a, b), torch.matmul(ta, tb), **tol(sa[-1]))
    assert_close(a @ b, ta @ tb, **tol(sa[-1]))


@pytest.mark.parametrize("sa,sb", [((40, 30), (30, 50)), ((4, 9, 8), (4, 8, 7)),
                                   ((200, 3), (3, 200))])
def test_matmul_transposed_and_strided(backend, sa, sb):
    a_np, b_np = rnd(*sa), rnd(*sb, seed=1)
    # a column-major copy, and a sliced (every other column) view
    a_t = np.ascontiguousarray(np.swapaxes(a_np, -1, -2))
    a = ptlite.from_numpy(np.swapaxes(a_t, -1, -2))
    big = np.zeros(sb[:-1] + (sb[-1] * 2,), np.float32)
    big[..., ::2] = b_np
    b = ptlite.from_numpy(big[..., ::2])
    ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
    assert_close(ptlite.matmul(a, b), torch.matmul(ta, tb), **tol(sa[-1]))
    # a strided caller-provided output
    out_np = np.zeros(torch.matmul(ta, tb).shape[:-1] + (sb[-1] * 2,), np.float32)
    out = ptlite.from_numpy(out_np[..., 1::2])
    ptlite.matmul(a, b, out=out)
    np.testing.assert_allclose(out_np[..., 1::2], torch.matmul(ta, tb).numpy(), **tol(sa[-1]))
    assert np.all(out_np[..., ::2] == 0)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 7, 3), (6, 16, 16), (13, 100, 37),
                                   (64, 256, 48), (97, 513, 129), (300, 300, 300)])
def test_matmul_fast_vs_reference(m, k, n):
    a, b = ptlite.from_numpy(rnd(m, k)), ptlite.from_numpy(rnd(k, n, seed=3))
    prev = _C.get_backend()
    try:
        _C.set_backend(1)
        ref = ptlite.matmul(a, b).numpy().copy()
        _C.set_backend(0)
        fast = ptlite.matmul(a, b).numpy()
        fast2 = ptlite.matmul(a, b).numpy()
    finally:
        _C.set_backend(prev)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * k ** 0.5 * 4)
    np.testing.assert_array_equal(fast, fast2)  # deterministic


def test_matmul_threads_deterministic():
    a, b = ptlite.from_numpy(rnd(130, 200)), ptlite.from_numpy(rnd(200, 90, seed=5))
    prev = ptlite.get_num_threads()
    try:
        ptlite.set_num_threads(1)
        one = ptlite.matmul(a, b).numpy().copy()
        l1 = F.linear(a, ptlite.from_numpy(rnd(90, 200, seed=6))).numpy().copy()
        ptlite.set_num_threads(2)
        two = ptlite.matmul(a, b).numpy()
        l2 = F.linear(a, ptlite.from_numpy(rnd(90, 200, seed=6))).numpy()
    finally:
        ptlite.set_num_threads(prev)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(l1, l2)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_matmul_int(backend, dtype):
    for sa, sb in [((3,), (3,)), ((2, 3), (3, 4)), ((4, 2, 3), (3,)), ((2, 5), (2, 5, 3))]:
        (a, ta), (b, tb) = pair(rnd(*sa, dtype=dtype)), pair(rnd(*sb, seed=2, dtype=dtype))
        assert_close(ptlite.matmul(a, b), torch.matmul(ta, tb))


def test_matmul_linear_float16(backend):
    (a, ta), (b, tb) = pair(rnd(3, 5, 8, dtype=np.float16)), pair(rnd(8, 4, seed=1,
                                                                     dtype=np.float16))
    assert_close(ptlite.matmul(a, b), torch.matmul(ta, tb), rtol=2e-3, atol=1e-2)
    (w, tw) = pair(rnd(6, 8, seed=2, dtype=np.float16))
    assert_close(F.linear(a, w), torch.nn.functional.linear(ta, tw), rtol=2e-3, atol=1e-2)


def test_mm_bmm_dot_mv(backend):
    (a, ta), (b, tb) = pair(rnd(4, 5)), pair(rnd(5, 6, seed=1))
    assert_close(ptlite.mm(a, b), torch.mm(ta, tb))
    assert_close(a.mm(b), ta.mm(tb))
    (a3, ta3), (b3, tb3) = pair(rnd(3, 4, 5)), pair(rnd(3, 5, 2, seed=1))
    assert_close(ptlite.bmm(a3, b3), torch.bmm(ta3, tb3))
    assert_close(a3.bmm(b3), ta3.bmm(tb3))
    (v, tv), (w, tw) = pair(rnd(5)), pair(rnd(5, seed=1))
    assert_close(ptlite.dot(v, w), torch.dot(tv, tw))
    assert_close(v.dot(w), tv.dot(tw))
    assert_close(ptlite.mv(a, v), torch.mv(ta, tv))
    assert_close(a.matmul(b), ta.matmul(tb))
    assert_close(b.__rmatmul__(a), tb.__rmatmul__(ta))


def test_matmul_errors():
    a, b = ptlite.zeros(2, 3), ptlite.zeros(4, 5)
    with pytest.raises(RuntimeError, match=r"shapes cannot be multiplied \(2x3 and 4x5\)"):
        ptlite.matmul(a, b)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x3 and 4x5\)"):
        ptlite.mm(a, b)
    with pytest.raises(RuntimeError, match=r"inconsistent tensor size.*\[3\].*\[4\]"):
        ptlite.matmul(ptlite.zeros(3), ptlite.zeros(4))
    with pytest.raises(RuntimeError, match=r"at least 1D.*0D and 1D"):
        ptlite.matmul(ptlite.tensor(1.0), ptlite.zeros(3))
    with pytest.raises(RuntimeError, match="size of tensor a \\(2\\) must match.*\\(3\\)"):
        ptlite.matmul(ptlite.zeros(2, 2, 3), ptlite.zeros(3, 3, 4))
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but "
                                           "got: float != long int"):
        ptlite.matmul(ptlite.zeros(2, 3), ptlite.zeros(3, 4, dtype=ptlite.int64))
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype"):
        ptlite.mm(ptlite.zeros(2, 3), ptlite.zeros(3, 5, dtype=ptlite.int64))
    with pytest.raises(RuntimeError, match="mm: mat2 must be a matrix"):
        ptlite.mm(a, ptlite.zeros(3))
    with pytest.raises(RuntimeError, match=r"bmm: Expected size for first two dimensions of "
                                           r"batch2 tensor to be: \[2, 4\] but got: \[3, 4\]"):
        ptlite.bmm(ptlite.zeros(2, 3, 4), ptlite.zeros(3, 4, 5))
    with pytest.raises(RuntimeError, match="bmm: batch1 must be a 3D tensor"):
        ptlite.bmm(a, a)
    with pytest.raises(RuntimeError, match="dot: 1D tensors expected"):
        ptlite.dot(a, a)
    with pytest.raises(RuntimeError, match=r"mv: size mismatch, got input \(2\), mat \(2x3\), "
                                           r"vec \(4\)"):
        ptlite.mv(a, ptlite.zeros(4))


# ---- linear -----------------------------------------------------------------------------

LINEAR_SHAPES = [(1, 1, 1), (1, 3, 5), (2, 3, 4), (4, 17, 33), (64, 1, 1000), (8, 1000, 1),
                 (64, 1000, 1000), (33, 257, 129), (1, 1024, 1024), (16, 64, 10), (3, 999, 7)]


@pytest.mark.parametrize("batch,fin,fout", LINEAR_SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_sweep(backend, batch, fin, fout, with_bias):
    if backend == "reference" and batch * fin * fout > 2_000_000:
        pytest.skip("large shape: the reference loop is slow and covered by smaller ones")
    (x, tx), (w, tw) = pair(rnd(batch, fin)), pair((rnd(fout, fin, seed=1) / np.sqrt(fin)).astype(np.float32))
    (b, tb) = pair(rnd(fout, seed=2)) if with_bias else (None, None)
    assert_close(F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb), **tol(fin))


@pytest.mark.parametrize("xshape", [(5,), (2, 3, 5), (2, 1, 3, 5), (0, 5), (2, 0, 5)])
def test_linear_input_ranks(backend, xshape):
    (x, tx), (w, tw), (b, tb) = pair(rnd(*xshape)), pair(rnd(4, 5, seed=1)), pair(rnd(4))
    assert_close(F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb))
    assert_close(F.linear(x, w), torch.nn.functional.linear(tx, tw))


def test_linear_strided_inputs(backend):
    xn = rnd(6, 20)
    x = ptlite.from_numpy(np.ascontiguousarray(xn.T).T)  # column-major input
    wn = rnd(20, 7, seed=3)  # a transposed weight view [7, 20]
    w = ptlite.from_numpy(wn.T)
    bn = np.zeros(14, np.float32)
    bn[::2] = rnd(7, seed=4)
    b = ptlite.from_numpy(bn[::2])
    ref = torch.nn.functional.linear(torch.from_numpy(xn), torch.from_numpy(wn.T.copy()),
                                     torch.from_numpy(bn[::2].copy()))
    assert_close(F.linear(x, w, b), ref, **tol(20))


@pytest.mark.parametrize("rows", [1, 9])  # 1 row: XNNPACK; more: the packed GEMM
def test_linear_fused_clamp(backend, rows):
    """The op's fused clamp attribute (used by the graph fuser for linear+relu/hardtanh)."""
    from ptlite._ops.table import call, op_id
    (x, tx), (w, tw), (b, tb) = pair(rnd(rows, 12)), pair(rnd(10, 12, seed=1)), pair(rnd(10))
    ref = torch.nn.functional.linear(tx, tw, tb)
    y = call(op_id("linear"), (x, w, b), (1,), (-0.5, 0.75))
    assert_close(y, ref.clamp(-0.5, 0.75), **tol(12))
    y = call(op_id("linear"), (x, w, b), (1,), (0.0, float("inf")))
    assert_close(y, torch.relu(ref), **tol(12))
    y = call(op_id("linear"), (x, w, b))  # unclamped again: a different cached operator
    assert_close(y, ref, **tol(12))


@pytest.mark.parametrize("rows", [1, 3])  # 1 row: XNNPACK (bias packed too); 3: GEMM
def test_linear_weight_cache_invalidates(rows):
    """Changing the weight or bias in place must change the output (packed cache keyed
    on their versions); the same weight is reused across calls otherwise."""
    (x, tx) = pair(rnd(rows, 8))
    w_np, b_np = rnd(4, 8, seed=1), rnd(4, seed=2)
    w, b = ptlite.from_numpy(w_np.copy()), ptlite.tensor(b_np)
    y1 = F.linear(x, w, b).numpy().copy()
    assert_close(F.linear(x, w, b), torch.nn.functional.linear(
        tx, torch.from_numpy(w_np), torch.from_numpy(b_np)), **tol(8))
    w2 = rnd(4, 8, seed=9)
    w.copy_(ptlite.from_numpy(w2))
    y2 = F.linear(x, w, b)
    assert not np.allclose(y1, y2.numpy())
    assert_close(y2, torch.nn.functional.linear(tx, torch.from_numpy(w2),
                                                torch.from_numpy(b_np)), **tol(8))
    b.fill_(3.0)
    y3 = F.linear(x, w, b)
    assert_close(y3, torch.nn.functional.linear(tx, torch.from_numpy(w2),
                                                torch.full((4,), 3.0)), **tol(8))
    # a different bias tensor with the same weight
    b4 = ptlite.zeros(4)
    assert_close(F.linear(x, w, b4), torch.nn.functional.linear(tx, torch.from_numpy(w2)),
                 **tol(8))
    assert_close(F.linear(x, w), torch.nn.functional.linear(tx, torch.from_numpy(w2)), **tol(8))


def test_linear_int(backend):
    (x, tx), (w, tw), (b, tb) = (pair(rnd(3, 4, dtype=np.int64)),
                                 pair(rnd(5, 4, seed=1, dtype=np.int64)),
                                 pair(rnd(5, seed=2, dtype=np.int64)))
    assert_close(F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb))


def test_linear_errors():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x3 and 5x4\)"):
        F.linear(ptlite.zeros(2, 3), ptlite.zeros(4, 5))
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but "
                                           "got: float != long int"):
        F.linear(ptlite.zeros(2, 3), ptlite.zeros(4, 3, dtype=ptlite.int64))
    with pytest.raises(RuntimeError, match=r"expanded size of the tensor \(4\) must match the "
                                           r"existing size \(5\)"):
        F.linear(ptlite.zeros(2, 3), ptlite.zeros(4, 3), ptlite.zeros(5))
    with pytest.raises(RuntimeError, match="linear: weight must be 2-d"):
        F.linear(ptlite.zeros(2, 3), ptlite.zeros(3))
    with pytest.raises(RuntimeError, match="linear: input must be at least 1-d"):
        F.linear(ptlite.tensor(1.0), ptlite.zeros(4, 1))

"""Creation functions against torch: zeros/ones/full/empty/arange/rand/randn/randint,
*_like, tensor/as_tensor, manual_seed reproducibility, and the ARANGE/RAND C ops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptlite
from conftest import assert_close
from ptlite._ops.table import call, op_id

DTYPES = [("float32", torch.float32), ("float16", torch.float16), ("int64", torch.int64),
          ("int32", torch.int32), ("int8", torch.int8), ("uint8", torch.uint8),
          ("bool", torch.bool)]


def pdt(name):
    return getattr(ptlite, name)


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 2, 3, 4)])
@pytest.mark.parametrize("name,tdt", DTYPES)
def test_zeros_ones_full_empty(shape, name, tdt):
    d = pdt(name)
    assert_close(ptlite.zeros(shape, dtype=d), torch.zeros(shape, dtype=tdt))
    assert_close(ptlite.ones(*shape, dtype=d), torch.ones(shape, dtype=tdt))
    assert_close(ptlite.full(shape, 3, dtype=d), torch.full(shape, 3, dtype=tdt))
    e = ptlite.empty(shape, dtype=d)
    assert tuple(e.shape) == shape and e.dtype is d
    assert e.stride() == torch.empty(shape).stride()


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 0, 4)])
def test_new_tensors_are_contiguous(shape):
    assert torch.empty(shape).is_contiguous()
    assert ptlite.empty(shape).is_contiguous()
    assert ptlite.zeros(shape).is_contiguous()


def test_default_dtypes_like_torch():
    assert ptlite.zeros(2).dtype is ptlite.float32
    assert ptlite.full((2,), 1).dtype is ptlite.int64
    assert ptlite.full((2,), 1.5).dtype is ptlite.float32
    assert ptlite.full((2,), True).dtype is ptlite.bool
    assert_close(ptlite.full((2, 2), -2.5), torch.full((2, 2), -2.5))
    assert ptlite.arange(5).dtype is ptlite.int64
    assert ptlite.arange(5.0).dtype is ptlite.float32
    assert ptlite.arange(0, 5, 0.5).dtype is ptlite.float32
    assert ptlite.rand(2).dtype is ptlite.float32
    assert ptlite.randint(0, 5, (3,)).dtype is ptlite.int64


def test_zeros_negative_size_is_runtime_error():
    with pytest.raises(RuntimeError):
        torch.zeros(2, -1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        ptlite.zeros(2, -1)


def test_creation_errors():
    with pytest.raises((RuntimeError, ValueError), match="negative dimension"):
        ptlite.zeros(2, -1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        ptlite.empty(-2)
    with pytest.raises(TypeError, match="size must be a tuple of ints"):
        ptlite.zeros(2.5)
    with pytest.raises(RuntimeError, match="CPU only"):
        ptlite.zeros(2, device="cuda")


# ---- arange -------------------------------------------------------------------------
ARANGES = [
    (5,), (0,), (2, 9), (9, 2, -1), (0, 10, 3), (-3, 3), (10, -10, -3),
    (0.0, 1.0, 0.1), (0, 1, 0.3), (1.5, 4.5), (-1.0, 1.0, 0.25), (0.5, 5), (3.0,),
    (0, 2.5, 0.5), (1, 0, -0.1), (-5, 5, 1.7),
]


@pytest.mark.parametrize("args", ARANGES, ids=lambda a: repr(a).replace(" ", ""))
def test_arange_matches_torch(args):
    assert_close(ptlite.arange(*args), torch.arange(*args), rtol=0, atol=0)


@pytest.mark.parametrize("name,tdt", [d for d in DTYPES if d[0] != "bool"])
@pytest.mark.parametrize("args", [(0, 10, 3), (7,), (0.0, 5.0, 1.5), (0.5, 5, 1.5), (2, 0, -0.5),
                                  (0, 5, 0.5), (0.7, 5.2, 1.3), (-0.5, 3, 1)])
def test_arange_dtypes(args, name, tdt):
    try:
        want = torch.arange(*args, dtype=tdt)
    except (RuntimeError, ValueError) as e:
        with pytest.raises(type(e), match="step must be nonzero"):
            ptlite.arange(*args, dtype=pdt(name))
        return
    got = ptlite.arange(*args, dtype=pdt(name))
    assert_close(got, want, rtol=0, atol=0)


def test_arange_keyword_form_and_tensor_bounds():
    assert_close(ptlite.arange(start=1, end=4), torch.arange(start=1, end=4))
    assert_close(ptlite.arange(ptlite.tensor(4)), torch.arange(torch.tensor(4)))


@pytest.mark.parametrize("args,pattern", [
    ((0, 5, -1), r"upper bound and lower bound inconsistent with step sign"),
    ((5, 0, 1), r"upper bound and lower bound inconsistent with step sign"),
    ((0, 5, 0), r"step must be nonzero"),
    ((0, float("inf")), r"unsupported range"),
])
def test_arange_errors(args, pattern):
    with pytest.raises(RuntimeError):
        torch.arange(*args)
    with pytest.raises(RuntimeError, match=pattern):
        ptlite.arange(*args)


def test_arange_op_errors_name_the_op():
    with pytest.raises(RuntimeError, match=r"arange: step must be nonzero"):
        call(op_id("arange"), (), (0,), (0.0, 1.0, 0.0))
    with pytest.raises(RuntimeError, match=r"arange: upper bound and lower bound"):
        call(op_id("arange"), (), (5,), (0.0, 3.0, -1.0))


# ---- random ---------------------------------------------------------------------------
def test_rand_range_and_statistics():
    ptlite.manual_seed(0)
    a = ptlite.rand(200000).numpy()
    assert a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.01
    assert abs(a.var() - 1 / 12) < 0.005
    hist, _ = np.histogram(a, bins=10, range=(0, 1))
    assert (np.abs(hist / a.size - 0.1) < 0.01).all()


def test_randn_statistics():
    ptlite.manual_seed(1)
    a = ptlite.randn(200000).numpy()
    assert abs(a.mean()) < 0.01
    assert abs(a.std() - 1.0) < 0.01
    assert abs((np.abs(a) < 1).mean() - 0.6827) < 0.01
    assert np.isfinite(a).all()


def test_random_shapes_dtypes_and_half():
    assert tuple(ptlite.rand(2, 3).shape) == (2, 3)
    assert tuple(ptlite.randn((4,)).shape) == (4,)
    assert tuple(ptlite.rand(()).shape) == ()
    assert tuple(ptlite.rand(0, 3).shape) == (0, 3)
    h = ptlite.rand(1000, dtype=ptlite.float16).numpy()
    assert h.dtype == np.float16 and h.min() >= 0 and h.max() <= 1
    n = ptlite.randn(1000, dtype=ptlite.float16).numpy()
    assert n.dtype == np.float16 and abs(float(n.mean())) < 0.2


@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_random_float_ops_reject_int_dtypes(fn):
    with pytest.raises(NotImplementedError):
        getattr(torch, fn)(2, dtype=torch.int64)
    with pytest.raises(RuntimeError, match=fn + r": expected a floating point dtype, got int64"):
        getattr(ptlite, fn)(2, dtype=ptlite.int64)


@pytest.mark.parametrize("low,high,dtype", [(0, 5, None), (-3, 3, None), (10, 11, None),
                                            (0, 256, "uint8"), (-100, 100, "int32"),
                                            (0, 7, "float32"), (-2**40, 2**40, None)])
def test_randint_range(low, high, dtype):
    ptlite.manual_seed(2)
    kw = {} if dtype is None else {"dtype": pdt(dtype)}
    a = ptlite.randint(low, high, (20000,), **kw)
    assert a.dtype is (ptlite.int64 if dtype is None else pdt(dtype))
    v = a.numpy().astype(np.float64)
    assert v.min() >= low and v.max() < high
    if high - low <= 256:
        assert len(np.unique(v)) == high - low  # every value appears
        counts = np.bincount((v - low).astype(np.int64))
        assert counts.min() > 0.7 * counts.mean()


def test_randint_forms_and_errors():
    assert tuple(ptlite.randint(5, (2, 3)).shape) == (2, 3)
    assert ptlite.randint(5, (100,)).numpy().max() < 5
    with pytest.raises(RuntimeError, match=r"random_ expects 'from' to be less than 'to', but "
                                           r"got from=5 >= to=5"):
        ptlite.randint(5, 5, (2,))
    with pytest.raises(RuntimeError, match=r"randint: random_ expects 'from' to be less than"):
        call(op_id("randint"), (), (5, 1, 2), (3.0, 1.0))


def test_manual_seed_reproducibility():
    ptlite.manual_seed(123)
    a = (ptlite.rand(50).numpy().copy(), ptlite.randn(3, 4).numpy().copy(),
         ptlite.randint(0, 100, (20,)).numpy().copy())
    ptlite.manual_seed(123)
    b = (ptlite.rand(50).numpy().copy(), ptlite.randn(3, 4).numpy().copy(),
         ptlite.randint(0, 100, (20,)).numpy().copy())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    ptlite.manual_seed(124)
    assert not np.array_equal(ptlite.rand(50).numpy(), a[0])
    # the stream continues: two draws differ
    assert not np.array_equal(ptlite.rand(50).numpy(), ptlite.rand(50).numpy())


def test_random_into_strided_output_follows_logical_order():
    """rand written into a transposed output (fill_ style): same values at the same logical
    positions as a contiguous draw with the same seed."""
    ptlite.manual_seed(7)
    ref = ptlite.rand(3, 4).numpy().copy()
    out = ptlite.empty(4, 3).t()
    ptlite.manual_seed(7)
    call(op_id("rand"), (), (0, 2, 3, 4), None, out)
    np.testing.assert_array_equal(out.numpy(), ref)


def test_uniform_and_normal_in_place():
    ptlite.manual_seed(3)
    x = ptlite.empty(10000)
    if not hasattr(ptlite.Tensor, "__mul__"):
        pytest.skip("uniform_/normal_ need the eltwise family (mul/add)")
    x.uniform_(-2, 2)
    v = x.numpy()
    assert v.min() >= -2 and v.max() < 2


# ---- *_like ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,tdt", [("float32", torch.float32), ("int64", torch.int64)])
def test_like_functions(name, tdt):
    src_t = torch.zeros(2, 3, dtype=tdt)
    src = ptlite.zeros(2, 3, dtype=pdt(name))
    assert_close(ptlite.zeros_like(src), torch.zeros_like(src_t))
    assert_close(ptlite.ones_like(src), torch.ones_like(src_t))
    assert_close(ptlite.full_like(src, 7), torch.full_like(src_t, 7))
    assert_close(ptlite.ones_like(src, dtype=ptlite.float16),
                 torch.ones_like(src_t, dtype=torch.float16))
    e = ptlite.empty_like(src)
    assert tuple(e.shape) == (2, 3) and e.dtype is pdt(name)
    if name == "float32":
        r = ptlite.rand_like(src)
        assert r.dtype is ptlite.float32 and tuple(r.shape) == (2, 3)
        assert tuple(ptlite.randn_like(src).shape) == (2, 3)


def test_full_like_of_transposed_source_has_values():
    src = ptlite.zeros(3, 2).t()
    assert_close(ptlite.full_like(src, 2.5), torch.full_like(torch.zeros(3, 2).t(), 2.5))


# ---- tensor / as_tensor -----------------------------------------------------------------
@pytest.mark.parametrize("data", [1, 2.5, True, [1, 2, 3], [1.0, 2], [[1, 2], [3, 4]],
                                  [True, False], [], [[1.5], [2.5]], np.arange(6).reshape(2, 3),
                                  np.linspace(0, 1, 5), np.array([1, 2], dtype=np.int32)])
def test_tensor_infers_dtype_like_torch(data):
    got = ptlite.tensor(data)
    want = torch.tensor(data) if not isinstance(data, np.ndarray) else torch.tensor(data)
    if want.dtype == torch.float64:  # ptlite has no float64: numpy float64 becomes float32
        want = want.float()
    assert_close(got, want)


def test_tensor_dtype_argument_and_copy_semantics():
    assert_close(ptlite.tensor([1.7, -2.2], dtype=ptlite.int64),
                 torch.tensor([1.7, -2.2]).to(torch.int64))
    a = np.arange(4, dtype=np.float32)
    t = ptlite.tensor(a)
    a[0] = 10
    assert t.numpy()[0] == 0  # tensor() copies
    s = ptlite.as_tensor(a)
    a[1] = 20
    assert s.numpy()[1] == 20  # as_tensor shares
    x = ptlite.zeros(3)
    assert ptlite.as_tensor(x) is x
    assert ptlite.as_tensor([1, 2]).dtype is ptlite.int64
    assert ptlite.as_tensor(a, dtype=ptlite.int32).dtype is ptlite.int32
    with pytest.raises(ValueError):
        ptlite.tensor([[1, 2], [3]])


def test_like_functions_preserve_dense_layout():
    src_t = torch.zeros(3, 2).t()
    src = ptlite.zeros(3, 2).t()
    assert ptlite.zeros_like(src).stride() == torch.zeros_like(src_t).stride()

"""Shape and view ops against torch: values, shapes, strides, storage sharing, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ptlite
import ptlite.nn.functional as PF
from conftest import assert_close, from_torch


def _base_shape(shape, layout):
    shape = list(shape)
    if not shape or layout == "contig":
        return tuple(shape)
    if layout == "transposed":
        shape[0], shape[-1] = shape[-1], shape[0]
    elif layout == "sliced":
        shape[-1] *= 2
    elif layout == "narrowed":
        shape[0] += 1
    return tuple(shape)


def pair(shape, dtype=torch.float32, make=None, layout="contig"):
    """The same data as a torch tensor and a ptlite tensor of exactly `shape`, laid out as
    `layout` (contig / transposed / sliced / narrowed) by the same view ops in both, or
    re-laid out by make(tensor, module)."""
    base_shape = _base_shape(shape, layout)
    if dtype.is_floating_point:
        base = torch.randn(base_shape, dtype=dtype)
    elif dtype == torch.bool:
        base = torch.rand(base_shape) > 0.5
    else:
        low = 0 if dtype == torch.uint8 else -50
        base = torch.randint(low, 50, base_shape, dtype=dtype)
    ours = from_torch(base)
    if make is None and layout != "contig" and len(shape):
        make = LAYOUTS[layout]
    if make is not None:
        base, ours = make(base, torch), make(ours, ptlite)
    assert tuple(base.shape) == tuple(shape) or make is not LAYOUTS.get(layout)
    return base, ours


def same_storage_torch(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def same_storage_ours(a, b) -> bool:
    return a._storage_ptr == b._storage_ptr


def check_view(ours, theirs, ours_base=None, theirs_base=None, strides=True):
    """Values, shape, dtype, strides and offset equal torch's; sharing equal torch's.
    strides="non1" compares the strides of dims of size != 1 only."""
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert_close(ours, theirs, rtol=0, atol=0)
    if strides == "non1":
        keep = [i for i, s in enumerate(theirs.shape) if s != 1]
        assert [ours.stride()[i] for i in keep] == [theirs.stride()[i] for i in keep]
    elif strides:
        assert ours.stride() == theirs.stride(), (ours.stride(), theirs.stride())
    if ours_base is not None:
        assert same_storage_ours(ours, ours_base) == same_storage_torch(theirs, theirs_base)
        if same_storage_torch(theirs, theirs_base):
            assert ours.storage_offset() == theirs.storage_offset()


LAYOUTS = {
    "transposed": lambda a, M: a.transpose(0, -1),
    "sliced": lambda a, M: a[..., ::2],
    "narrowed": lambda a, M: a.narrow(0, 1, a.shape[0] - 1),
    "contig": None,
}


# ---- reshape / view -------------------------------------------------------------
RESHAPES = [
    ((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)), ((2, 3, 4), (2, 12)),
    ((2, 3, 4), (2, 3, 2, 2)), ((2, 3, 4), (1, 24, 1)), ((6, 1, 4), (6, 4)),
    ((6, 1, 4), (3, 2, 1, 4)), ((4, 6), (24,)), ((4, 6), (2, 2, 6)),
]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("shape,new", RESHAPES)
def test_reshape_matches_torch(shape, new, layout):
    t, o = pair(shape, layout=layout)
    if 0 in t.shape:
        pytest.skip("empty after layout")
    check_view(o.reshape(*new), t.reshape(*new), o, t)
    check_view(ptlite.reshape(o, new), torch.reshape(t, new), o, t)


@pytest.mark.parametrize("shape,new", [((), (1, 1)), ((1, 1), ()), ((), (-1,)), ((0, 3), (3, 0)),
                                       ((0, 3), (0, 3)), ((2, 0), (0, 5, 2)), ((5,), (5, 1))])
def test_reshape_edge_shapes(shape, new):
    t, o = pair(shape)
    check_view(o.reshape(new), t.reshape(new), o, t)


def test_reshape_of_non_viewable_copies_and_writes_do_not_alias():
    t, o = pair((3, 4), make=lambda a, M: a.t())
    r = o.reshape(12)
    assert not same_storage_ours(r, o) and r.is_contiguous()
    r.numpy()[0] = 100.0
    assert o.numpy()[0, 0] != 100.0


def test_view_shares_memory_and_writes_through():
    base = ptlite.zeros(2, 6)
    v = base.view(3, 4)
    assert np.shares_memory(v.numpy(), base.numpy())
    assert v.data_ptr() == base.data_ptr()
    v.numpy()[2, 3] = 7.0
    assert base.numpy()[1, 5] == 7.0
    assert base.view(-1).shape == (12,)
    assert base.view((4, 3)).shape == (4, 3)
    assert base.view_as(ptlite.empty(12, 1)).shape == (12, 1)
    assert base.reshape_as(ptlite.empty(3, 4)).shape == (3, 4)


def test_view_errors_like_torch():
    t, o = pair((3, 4), make=lambda a, M: a.t())
    with pytest.raises(RuntimeError) as et:
        t.view(-1)
    with pytest.raises(RuntimeError, match=r"view size is not compatible") as eo:
        o.view(-1)
    assert str(eo.value) == str(et.value)


@pytest.mark.parametrize("new,pattern", [
    ((2, 5), r"reshape: shape '\[2, 5\]' is invalid for input of size 6"),
    ((-1, -1), r"only one dimension can be inferred"),
    ((-2, 3), r"invalid shape dimension -2"),
    ((4, -1), r"shape '\[4, -1\]' is invalid for input of size 6"),
])
def test_reshape_errors(new, pattern):
    t, o = pair((2, 3))
    with pytest.raises(RuntimeError):
        t.reshape(new)
    with pytest.raises(RuntimeError, match=pattern):
        o.reshape(new)


def test_reshape_zero_numel_ambiguous():
    with pytest.raises(RuntimeError, match=r"reshape: cannot reshape tensor of 0 elements into "
                                           r"shape \[0, -1\]"):
        ptlite.empty(0, 3).reshape(0, -1)


def test_view_dtype_same_itemsize():
    t, o = pair((2, 3))
    check_view(o.view(ptlite.int32), t.view(torch.int32), strides=True)
    with pytest.raises(RuntimeError, match="same element size"):
        o.view(ptlite.int64)


# ---- flatten / unflatten --------------------------------------------------------
@pytest.mark.parametrize("args", [(), (1,), (0, 1), (1, 2), (-2, -1), (2, 2), (0, -1)])
@pytest.mark.parametrize("layout", ["contig", "transposed"])
def test_flatten(args, layout):
    t, o = pair((2, 3, 4), layout=layout)
    check_view(o.flatten(*args), t.flatten(*args), o, t)
    check_view(ptlite.flatten(o, *args), torch.flatten(t, *args), o, t)


def test_flatten_scalar_and_errors():
    t, o = pair(())
    check_view(o.flatten(), t.flatten())
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        ptlite.randn(2, 3).flatten(1, 0)


@pytest.mark.parametrize("dim,sizes", [(0, (2, 3)), (1, (2, -1)), (-1, (1, 4)), (1, (4,))])
def test_unflatten(dim, sizes):
    t, o = pair((6, 4))
    if dim == 1 and sizes == (2, -1):
        t, o = pair((3, 4))
    check_view(o.unflatten(dim, sizes), t.unflatten(dim, sizes), o, t)


def test_unflatten_error():
    with pytest.raises(RuntimeError, match=r"unflatten: Provided sizes \[2, 2\] don't multiply"):
        ptlite.randn(3).unflatten(0, (2, 2))


# ---- permute / transpose --------------------------------------------------------
@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 0, 2), (-1, 0, 1), (2, 1, 0)])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_permute(perm, layout):
    t, o = pair((3, 4, 5), layout=layout)
    check_view(o.permute(*perm), t.permute(*perm), o, t)
    check_view(o.permute(perm), t.permute(perm), o, t)
    check_view(ptlite.permute(o, perm), torch.permute(t, perm), o, t)


def test_permute_channels_last_input():
    t, o = pair((2, 3, 4, 5), make=lambda a, M: a.contiguous(memory_format=M.channels_last))
    check_view(o.permute(0, 2, 3, 1), t.permute(0, 2, 3, 1), o, t)
    assert o.permute(0, 2, 3, 1).is_contiguous()


@pytest.mark.parametrize("dims,exc,pattern", [
    ((1,), RuntimeError, r"permute\(sparse_coo\): number of dimensions in the tensor input does "
                         r"not match .* input.dim\(\) = 2 is not equal to len\(dims\) = 1"),
    ((0, 0), RuntimeError, r"permute\(\): duplicate dims are not allowed"),
    ((0, 2), IndexError, r"permute: Dimension out of range \(expected to be in range of "
                         r"\[-2, 1\], but got 2\)"),
])
def test_permute_errors(dims, exc, pattern):
    t, o = pair((2, 3))
    with pytest.raises(exc):
        t.permute(*dims)
    with pytest.raises(exc, match=pattern):
        o.permute(*dims)


@pytest.mark.parametrize("d0,d1", [(0, 1), (1, 0), (0, -1), (1, 1), (-3, 2)])
def test_transpose_swapaxes(d0, d1):
    t, o = pair((2, 3, 4), layout="sliced")
    check_view(o.transpose(d0, d1), t.transpose(d0, d1), o, t)
    check_view(ptlite.transpose(o, d0, d1), torch.transpose(t, d0, d1), o, t)
    check_view(ptlite.swapaxes(o, d0, d1), torch.swapaxes(t, d0, d1), o, t)


def test_t_mT_T_movedim():
    for shape in [(), (3,), (2, 3)]:
        t, o = pair(shape)
        check_view(o.t(), t.t(), o, t)
        check_view(ptlite.t(o), torch.t(t), o, t)
    t, o = pair((2, 3, 4))
    check_view(o.mT, t.mT, o, t)
    check_view(o.T, t.permute(2, 1, 0), o, t)
    check_view(o.movedim(0, -1), t.movedim(0, -1), o, t)
    check_view(ptlite.movedim(o, (0, 1), (2, 0)), torch.movedim(t, (0, 1), (2, 0)), o, t)
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with <= 2 dimensions, but "
                                           r"self is 3D"):
        o.t()
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-3, 2\], but got 5\)"):
        o.transpose(0, 5)


# ---- expand ---------------------------------------------------------------------
EXPANDS = [((3, 1), (3, 4)), ((3, 1), (2, 3, 4)), ((1,), (5,)), ((), (2, 3)), ((), (1,)),
           ((2, 3), (-1, 3)), ((2, 1), (-1, 0)), ((3, 1), (1, 3, 1)), ((3, 1), (2, 1, 3, 1)),
           ((1, 1, 4), (2, 3, 4))]


@pytest.mark.parametrize("shape,target", EXPANDS)
def test_expand(shape, target):
    t, o = pair(shape)
    check_view(o.expand(*target), t.expand(*target), o, t)
    check_view(o.expand(target), t.expand(target), o, t)
    check_view(ptlite.broadcast_to(o, target), torch.broadcast_to(t, target), o, t)


def test_expand_noncontiguous_and_expand_as():
    t, o = pair((4, 6), make=lambda a, M: a[:, :1])
    check_view(o.expand(3, 4, 5), t.expand(3, 4, 5), o, t)
    t2, o2 = pair((7, 4, 5))
    check_view(o.expand_as(o2), t.expand_as(t2), o, t)


@pytest.mark.parametrize("target,pattern", [
    ((2, 4), r"expand: The expanded size of the tensor \(4\) must match the existing size \(3\) "
             r"at non-singleton dimension 1.  Target sizes: \[2, 4\].  Tensor sizes: \[2, 3\]"),
    ((3,), r"the number of sizes provided \(1\) must be greater or equal to the number of "
           r"dimensions in the tensor \(2\)"),
    ((-1, 2, 3), r"expanded size of the tensor \(-1\) isn't allowed in a leading, "
                 r"non-existing dimension 0"),
    ((2, -2), r"expanded size of the tensor \(-2\) must match the existing size \(3\)"),
])
def test_expand_errors(target, pattern):
    t, o = pair((2, 3))
    with pytest.raises(RuntimeError):
        t.expand(*target)
    with pytest.raises(RuntimeError, match=pattern):
        o.expand(*target)


def test_broadcast_tensors_and_shapes():
    ts, os_ = zip(*[pair(s) for s in [(3, 1), (4,), (2, 1, 1)]])
    for a, b in zip(ptlite.broadcast_tensors(*os_), torch.broadcast_tensors(*ts)):
        check_view(a, b)
    assert tuple(ptlite.broadcast_shapes((3, 1), (4,))) == tuple(torch.broadcast_shapes((3, 1),
                                                                                         (4,)))
    with pytest.raises(RuntimeError, match="Shape mismatch"):
        ptlite.broadcast_shapes((3,), (4,))


# ---- squeeze / unsqueeze --------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, 2, -1, 1, (0, 2), (0, 1, 3)])
def test_squeeze(dim):
    for make in (None, lambda a, M: a.permute(3, 1, 2, 0)):
        t, o = pair((1, 3, 1, 2), make=make)
        got = o.squeeze() if dim is None else o.squeeze(dim)
        want = t.squeeze() if dim is None else t.squeeze(dim)
        check_view(got, want, o, t)
        got = ptlite.squeeze(o) if dim is None else ptlite.squeeze(o, dim)
        check_view(got, want, o, t)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced"])
def test_unsqueeze(dim, layout):
    t, o = pair((3, 4), layout=layout)
    # the new size-1 dim's stride follows reshape's rule, not unsqueeze's, when the input
    # is not contiguous (torch ignores size-1 strides for layout decisions)
    exact = True if layout == "contig" else "non1"
    check_view(o.unsqueeze(dim), t.unsqueeze(dim), o, t, strides=exact)
    check_view(ptlite.unsqueeze(o, dim), torch.unsqueeze(t, dim), o, t, strides=exact)


def test_squeeze_unsqueeze_in_place_and_errors():
    o = ptlite.zeros(1, 3)
    base_ptr = o.data_ptr()
    assert o.squeeze_() is o and o.shape == (3,) and o.data_ptr() == base_ptr
    assert o.unsqueeze_(1) is o and o.shape == (3, 1)
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\], but got 2"):
        ptlite.randn(3).unsqueeze(2)
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 2"):
        ptlite.randn(3).squeeze(2)
    t, s = pair(())
    check_view(s.unsqueeze(0), t.unsqueeze(0))
    check_view(s.squeeze(), t.squeeze())


# ---- narrow / select / split / chunk / unbind -----------------------------------
@pytest.mark.parametrize("dim,start,length", [(0, 1, 2), (1, -3, 2), (1, 0, 0), (-1, 4, 1),
                                              (0, 3, 0)])
@pytest.mark.parametrize("layout", ["contig", "transposed"])
def test_narrow(dim, start, length, layout):
    t, o = pair((3, 5), layout=layout)
    check_view(o.narrow(dim, start, length), t.narrow(dim, start, length), o, t)
    check_view(ptlite.narrow(o, dim, start, length), torch.narrow(t, dim, start, length), o, t)


def test_narrow_errors():
    o = ptlite.randn(3)
    with pytest.raises(RuntimeError, match=r"start \(2\) \+ length \(2\) exceeds dimension size "
                                           r"\(3\)"):
        o.narrow(0, 2, 2)
    with pytest.raises(RuntimeError, match="length must be non-negative"):
        o.narrow(0, 0, -1)
    with pytest.raises(IndexError, match=r"start out of range \(expected to be in range of "
                                         r"\[-3, 3\], but got 4\)"):
        o.narrow(0, 4, 0)


@pytest.mark.parametrize("dim,index", [(0, 0), (0, -1), (1, 2), (-1, 0), (2, 3)])
def test_select(dim, index):
    t, o = pair((2, 3, 4), layout="sliced")
    check_view(o.select(dim, index), t.select(dim, index), o, t)
    check_view(ptlite.select(o, dim, index), torch.select(t, dim, index), o, t)


def test_select_errors():
    o = ptlite.randn(2, 3)
    with pytest.raises(IndexError, match=r"select: index 5 is out of bounds for dimension 0 "
                                         r"with size 2"):
        o.select(0, 5)
    with pytest.raises(IndexError, match=r"select\(\) cannot be applied to a 0-dim tensor"):
        ptlite.tensor(1.0).select(0, 0)
    with pytest.raises(IndexError, match="select: Dimension out of range"):
        o.select(2, 0)


@pytest.mark.parametrize("arg,dim", [(2, 0), (3, 1), (1, -1), ([1, 2, 2], 1), ([5], 1),
                                     ([0, 5, 0], 1), (10, 0)])
def test_split(arg, dim):
    t, o = pair((4, 5), layout="sliced")
    ours, theirs = o.split(arg, dim), t.split(arg, dim)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        check_view(a, b, o, t)
    assert len(ptlite.split(o, arg, dim)) == len(torch.split(t, arg, dim))


def test_split_errors():
    o = ptlite.randn(3)
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly "
                                           r"to 3 \(input tensor's size at dimension 0\), but got "
                                           r"split_sizes=\[1, 1\]"):
        o.split([1, 1])
    with pytest.raises(RuntimeError, match="split_size can only be 0 if dimension size is 0"):
        o.split(0)


@pytest.mark.parametrize("n,chunks,dim", [(5, 3, 0), (6, 4, 0), (6, 6, 0), (2, 5, 0), (7, 2, 1),
                                          (0, 2, 0)])
def test_chunk(n, chunks, dim):
    shape = (n, 3) if dim == 0 else (3, n)
    t, o = pair(shape)
    ours, theirs = o.chunk(chunks, dim), t.chunk(chunks, dim)
    assert [tuple(a.shape) for a in ours] == [tuple(b.shape) for b in theirs]
    for a, b in zip(ours, theirs):
        check_view(a, b, o, t)
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0"):
        o.chunk(0)


@pytest.mark.parametrize("arg", [3, 5, [1, 4], [2, 2, 5], [4, 1], [-2, 9], []])
def test_tensor_split(arg):
    t, o = pair((7, 2))
    ours, theirs = ptlite.tensor_split(o, arg), torch.tensor_split(t, arg)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        check_view(a, b, o, t)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind(dim):
    t, o = pair((2, 3, 4), layout="transposed")
    ours, theirs = o.unbind(dim), torch.unbind(t, dim)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        check_view(a, b, o, t)


# ---- cat / stack ------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cat_matches_torch(dim, layout, backend):
    sizes = [1, 3, 2]
    ts, os_ = [], []
    for k in sizes:
        shape = [4, 5, 6]
        shape[dim] = k
        t, o = pair(tuple(shape), layout=layout)
        ts.append(t)
        os_.append(o)
    out = ptlite.cat(os_, dim)
    want = torch.cat(ts, dim)
    check_view(out, want)
    assert out.is_contiguous()


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.int64), (torch.int32, torch.int64),
                                    (torch.bool, torch.int32), (torch.float16, torch.int64),
                                    (torch.float16, torch.float32), (torch.uint8, torch.bool),
                                    (torch.int8, torch.int8)])
def test_cat_type_promotion(dtypes):
    ts, os_ = zip(*[pair((2, 3), d) for d in dtypes])
    out = ptlite.cat(os_, 1)
    want = torch.cat(ts, 1)
    assert str(out.dtype).split(".")[1] == str(want.dtype).split(".")[1]
    assert_close(out, want, rtol=0, atol=0)


def test_cat_uint8_int8_unsupported_clearly():
    a, b = ptlite.zeros(2, dtype=ptlite.uint8), ptlite.zeros(2, dtype=ptlite.int8)
    with pytest.raises(ptlite.errors.UnsupportedError, match="int16"):
        ptlite.cat([a, b])


def test_cat_channels_last_kept_like_torch():
    cl = lambda a, M: a.contiguous(memory_format=M.channels_last)  # noqa: E731
    (t1, o1), (t2, o2) = pair((2, 3, 4, 5), make=cl), pair((2, 5, 4, 5), make=cl)
    for dim in (1, 0, 3):
        if dim != 1:
            (t2, o2) = pair((2, 3, 4, 5), make=cl)
        check_view(ptlite.cat([o1, o2], dim), torch.cat([t1, t2], dim))
    # mixed layouts: torch falls back to contiguous
    t3, o3 = pair((2, 3, 4, 5))
    check_view(ptlite.cat([o1, o3], 1), torch.cat([t1, t3], 1))


def test_cat_skips_empty_1d_and_edge_cases():
    t, o = pair((2, 3))
    e_t, e_o = torch.empty(0), ptlite.empty(0)
    check_view(ptlite.cat([o, e_o]), torch.cat([t, e_t]))
    check_view(ptlite.cat([e_o, o], 1), torch.cat([e_t, t], 1))
    check_view(ptlite.cat([e_o, e_o]), torch.cat([e_t, e_t]))
    check_view(ptlite.cat([o]), torch.cat([t]))
    z_t, z_o = pair((0, 3))
    check_view(ptlite.cat([z_o, o, z_o]), torch.cat([z_t, t, z_t]))
    # concat / concatenate aliases, many inputs (beyond the op's 64-input limit)
    many_t = [torch.full((1, 2), float(i)) for i in range(150)]
    many_o = [from_torch(x) for x in many_t]
    check_view(ptlite.concat(many_o), torch.concat(many_t))
    check_view(ptlite.concatenate(many_o, 1), torch.concatenate(many_t, 1))


def test_cat_writes_into_out():
    t, o = pair((2, 3))
    out = ptlite.empty(4, 3)
    res = ptlite.cat([o, o], out=out)
    assert res is out
    check_view(out, torch.cat([t, t]))


@pytest.mark.parametrize("others,exc,pattern", [
    ([(2, 4)], RuntimeError, r"cat: Sizes of tensors must match except in dimension 0. Expected "
                             r"size 3 but got size 4 for tensor number 1 in the list \(shapes "
                             r"\[2, 3\] and \[2, 4\]\)"),
    ([(2, 4, 1)], RuntimeError, r"cat: Tensors must have same number of dimensions: got 2 and 3 "
                                r"\(shapes \[2, 3\] and \[2, 4, 1\]\)"),
    ([()], RuntimeError, r"zero-dimensional tensor \(at position 1\) cannot be concatenated"),
])
def test_cat_errors(others, exc, pattern):
    t, o = pair((2, 3))
    with pytest.raises(exc):
        torch.cat([t] + [torch.zeros(s) for s in others])
    with pytest.raises(exc, match=pattern):
        ptlite.cat([o] + [ptlite.zeros(*s) for s in others])


def test_cat_bad_args():
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):
        ptlite.cat([])
    with pytest.raises(IndexError, match=r"cat: Dimension out of range"):
        ptlite.cat([ptlite.zeros(2, 3)], 2)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack_hstack_vstack(dim):
    ts, os_ = zip(*[pair((2, 3), layout="transposed") for _ in range(3)])
    check_view(ptlite.stack(os_, dim), torch.stack(ts, dim))
    check_view(ptlite.hstack(os_), torch.hstack(ts))
    check_view(ptlite.vstack(os_), torch.vstack(ts))
    ts1, os1 = zip(*[pair((3,)) for _ in range(2)])
    check_view(ptlite.hstack(os1), torch.hstack(ts1))
    check_view(ptlite.vstack(os1), torch.vstack(ts1))


def test_stack_errors():
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got "
                                           r"\[3\] at entry 0 and \[2\] at entry 1"):
        ptlite.stack([ptlite.zeros(3), ptlite.zeros(2)])
    with pytest.raises(RuntimeError, match="stack expects a non-empty TensorList"):
        ptlite.stack([])


# ---- pad --------------------------------------------------------------------------
PADS = [
    ("constant", (2, 3, 4), (1, 1)), ("constant", (2, 3, 4), (0, 2, 1, 0)),
    ("constant", (2, 3, 4), (1, 2, 0, 1, 2, 1)), ("constant", (2, 3, 4), (-1, 2)),
    ("constant", (2, 3, 4), (-2, -1, 1, -1)), ("constant", (5,), (2, 0)),
    ("reflect", (2, 3, 5), (2, 1)), ("reflect", (1, 2, 4, 5), (1, 2, 3, 0)),
    ("reflect", (2, 3, 5), (-1, 2)), ("reflect", (1, 2, 3, 4, 5), (1, 1, 2, 2, 1, 2)),
    ("replicate", (2, 3, 5), (3, 1)), ("replicate", (1, 2, 4, 5), (1, 2, 6, 0)),
    ("replicate", (2, 2, 3, 4, 5), (1, 0, 0, 1, 2, 2)),
    ("circular", (2, 3, 5), (2, 3)), ("circular", (1, 2, 4, 5), (1, 2, 4, 0)),
    ("circular", (2, 3, 5), (-1, 1)), ("circular", (1, 1, 3, 4, 5), (1, 1, 2, 2, 1, 0)),
]


@pytest.mark.parametrize("mode,shape,pads", PADS)
@pytest.mark.parametrize("layout", ["contig", "transposed"])
def test_pad_matches_torch(mode, shape, pads, layout, backend):
    make = None
    if layout == "transposed":
        make = lambda a, M: a.transpose(-1, -2).contiguous().transpose(-1, -2)  # noqa: E731
    t, o = pair(shape, make=make if len(shape) > 1 else None)
    check_view(PF.pad(o, pads, mode=mode), TF.pad(t, pads, mode=mode))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.float16, torch.bool])
def test_pad_dtypes_and_value(dtype):
    t, o = pair((2, 3), dtype)
    value = 1 if dtype in (torch.bool,) else 7
    check_view(PF.pad(o, (1, 2, 1, 0), value=value), TF.pad(t, (1, 2, 1, 0), value=value))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_channels_last_input_keeps_layout_like_torch(mode):
    t, o = pair((2, 3, 4, 5), make=lambda a, M: a.contiguous(memory_format=M.channels_last))
    got, want = PF.pad(o, (1, 1, 2, 0), mode=mode), TF.pad(t, (1, 1, 2, 0), mode=mode)
    check_view(got, want)


def test_flip_roll_keep_channels_last_like_torch():
    t, o = pair((2, 3, 4, 5), make=lambda a, M: a.contiguous(memory_format=M.channels_last))
    check_view(o.flip((1, 3)), t.flip((1, 3)))
    check_view(o.roll(1, 1), t.roll(1, 1))
    check_view(o.roll((2, -1), (2, 3)), t.roll((2, -1), (2, 3)))


@pytest.mark.parametrize("pads,mode,exc,pattern", [
    ((1,), "constant", RuntimeError, r"pad: Padding length must be divisible by 2"),
    ((1, 1, 1, 1, 1, 1), "constant", RuntimeError,
     r"Padding length should be less than or equal to two times the input dimension but got "
     r"padding length 6 and input of dimension 2"),
    ((-2, -2), "constant", RuntimeError,
     r"The input size 3, plus negative padding -2 and -2 resulted in a negative output size"),
    ((3, 3), "reflect", RuntimeError,
     r"Padding size should be less than the corresponding input dimension, but got: padding "
     r"\(3, 3\) at dimension 1 of input \[2, 3\]"),
    ((4, 4), "circular", RuntimeError, r"Padding value causes wrapping around more than once"),
    ((1, 1, 1, 1), "reflect", NotImplementedError,
     r"Padding size 4 is not supported for 2D input tensor"),
    ((1, 1), "foo", NotImplementedError, r"Unrecognised padding mode foo"),
])
def test_pad_errors(pads, mode, exc, pattern):
    t, o = pair((2, 3))
    with pytest.raises(exc):
        TF.pad(t, pads, mode=mode)
    with pytest.raises(exc, match=pattern):
        PF.pad(o, pads, mode=mode)


def test_pad_value_with_non_constant_mode():
    with pytest.raises(RuntimeError, match=r'Padding mode "reflect" doesn\'t take in value'):
        PF.pad(ptlite.zeros(2, 3), (1, 1), mode="reflect", value=1.0)


# ---- index_select / embedding / one_hot / gather ---------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("idx_dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced"])
def test_index_select(dim, idx_dtype, layout, backend):
    t, o = pair((4, 5, 6), layout=layout)
    n = t.shape[dim]
    idx_t = torch.tensor([n - 1, 0, 1, 1], dtype=idx_dtype)
    idx_o = from_torch(idx_t)
    check_view(ptlite.index_select(o, dim, idx_o), torch.index_select(t, dim, idx_t))
    check_view(o.index_select(dim, idx_o), t.index_select(dim, idx_t))
    # a strided index and an empty index
    idx2_t = torch.tensor([0, 9, n - 1, 9, 1, 9])[::2]
    idx2_o = from_torch(torch.tensor([0, 9, n - 1, 9, 1, 9]))[::2]
    check_view(o.index_select(dim, idx2_o), t.index_select(dim, idx2_t))
    e = torch.tensor([], dtype=torch.int64)
    check_view(o.index_select(dim, from_torch(e)), t.index_select(dim, e))


def test_index_select_scalar_and_dtypes():
    t, o = pair(())
    check_view(o.index_select(0, ptlite.tensor([0])), t.index_select(0, torch.tensor([0])))
    for d in (torch.int64, torch.bool, torch.float16, torch.uint8):
        t, o = pair((3, 4), d)
        idx = torch.tensor([2, 0])
        check_view(o.index_select(1, from_torch(idx)), t.index_select(1, idx))


@pytest.mark.parametrize("index,exc,pattern", [
    ([5], IndexError, r"index_select\(\): index 5 is out of bounds for dimension 0 with size 2 "
                      r"\(index out of range in self\)"),
    ([-1], IndexError, r"index out of range in self"),
    ([[0]], IndexError, r"index_select\(\): Index is supposed to be a vector"),
    ([0.0], RuntimeError, r"index_select\(\): Expected dtype int32 or int64 for index"),
])
def test_index_select_errors(index, exc, pattern):
    t, o = pair((2, 3))
    with pytest.raises(exc):
        torch.index_select(t, 0, torch.tensor(index))
    with pytest.raises(exc, match=pattern):
        ptlite.index_select(o, 0, ptlite.tensor(index))


@pytest.mark.parametrize("idx_shape", [(), (5,), (2, 3), (2, 0)])
@pytest.mark.parametrize("idx_dtype", [torch.int64, torch.int32])
def test_embedding(idx_shape, idx_dtype, backend):
    w_t, w_o = pair((10, 4))
    idx_t = torch.randint(0, 10, idx_shape, dtype=idx_dtype)
    check_view(PF.embedding(from_torch(idx_t), w_o), TF.embedding(idx_t, w_t))
    # transposed weight and a strided index
    w2_t, w2_o = pair((4, 10), make=lambda a, M: a.t())
    idx2 = torch.randint(0, 10, (3, 4), dtype=idx_dtype)
    check_view(PF.embedding(from_torch(idx2).t(), w2_o), TF.embedding(idx2.t(), w2_t))
    check_view(PF.embedding(from_torch(idx_t), w_o, padding_idx=0),
               TF.embedding(idx_t, w_t, padding_idx=0))


@pytest.mark.parametrize("args,exc,pattern", [
    ((torch.tensor([5]), (3, 2)), IndexError, r"embedding: index 5 is out of range .*index out "
                                              r"of range in self"),
    ((torch.tensor([-1]), (3, 2)), IndexError, r"index out of range in self"),
    ((torch.tensor([1.0]), (3, 2)), RuntimeError, r"Expected tensor for argument #1 'indices' to "
                                                  r"have one of the following scalar types: "
                                                  r"Long, Int"),
    ((torch.tensor([1]), (3,)), RuntimeError, r"embedding: 'weight' must be 2-D"),
])
def test_embedding_errors(args, exc, pattern):
    idx, wshape = args
    with pytest.raises(exc):
        TF.embedding(idx, torch.zeros(wshape))
    with pytest.raises(exc, match=pattern):
        PF.embedding(from_torch(idx), ptlite.zeros(*wshape))


def test_embedding_max_norm_unsupported():
    with pytest.raises(ptlite.errors.UnsupportedError, match="max_norm"):
        PF.embedding(ptlite.tensor([0]), ptlite.zeros(3, 2), max_norm=1.0)


def test_one_hot():
    idx = torch.tensor([[0, 3], [1, 1]])
    check_view(PF.one_hot(from_torch(idx)), TF.one_hot(idx))
    check_view(PF.one_hot(from_torch(idx), 6), TF.one_hot(idx, 6))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        PF.one_hot(from_torch(idx), 2)
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        PF.one_hot(ptlite.tensor([-1, 2]))


@pytest.mark.parametrize("dim", [0, 1])
def test_gather(dim):
    t, o = pair((3, 4))
    idx = torch.randint(0, t.shape[dim], (2, 3))
    check_view(ptlite.gather(o, dim, from_torch(idx)), torch.gather(t, dim, idx))
    check_view(o.gather(dim, from_torch(idx)), t.gather(dim, idx))


# ---- repeat / tile / flip / roll / masked_fill ------------------------------------
@pytest.mark.parametrize("shape,reps", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (1, 2, 2)),
                                        ((), (3, 2)), ((2, 1), (0, 3)), ((2, 3), (1, 1))])
def test_repeat_tile(shape, reps):
    t, o = pair(shape, make=(lambda a, M: a.t()) if len(shape) == 2 else None)
    check_view(o.repeat(*reps), t.repeat(*reps))
    check_view(o.repeat(reps), t.repeat(reps))
    check_view(o.tile(reps), t.tile(reps))
    check_view(ptlite.tile(o, reps[-1:]), torch.tile(t, reps[-1:]))
    assert not same_storage_ours(o.repeat(*reps), o)


def test_repeat_error():
    with pytest.raises(RuntimeError,
                       match="Number of dimensions of repeat dims can not be smaller"):
        ptlite.zeros(2, 3).repeat(2)


@pytest.mark.parametrize("dims", [(0,), (1,), (0, 1), (-1,), ()])
def test_flip(dims):
    t, o = pair((3, 4), layout="transposed")
    check_view(o.flip(dims), t.flip(dims))
    check_view(ptlite.flip(o, dims), torch.flip(t, dims))


@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), (5, None), ((1, 2), (0, 1)), (0, 0)])
def test_roll(shifts, dims):
    t, o = pair((3, 4), layout="sliced")
    check_view(o.roll(shifts, dims), t.roll(shifts, dims))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_masked_fill(dtype):
    t, o = pair((2, 3), dtype, layout="transposed")
    m_t = torch.tensor([[True, False, True], [False, False, True]])
    m_o = from_torch(m_t)
    check_view(o.masked_fill(m_o, 1.5), t.masked_fill(m_t, 1.5))
    check_view(ptlite.masked_fill(o, m_o, 2), torch.masked_fill(t, m_t, 2))
    row_t, row_o = torch.tensor([True, False, True]), ptlite.tensor([True, False, True])
    check_view(o.masked_fill(row_o, -1), t.masked_fill(row_t, -1))
    check_view(o.masked_fill(m_o, ptlite.tensor(3)), t.masked_fill(m_t, torch.tensor(3)))
    # in place writes through a non-contiguous tensor
    r = o.masked_fill_(m_o, 9)
    t.masked_fill_(m_t, 9)
    assert r is o
    check_view(o, t)


def test_masked_fill_errors():
    o = ptlite.zeros(3)
    with pytest.raises(RuntimeError, match="masked_fill_ only supports boolean masks"):
        o.masked_fill(ptlite.tensor([1, 0, 1]), 1.0)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor"):
        o.masked_fill(ptlite.tensor([True, False, True]), ptlite.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast "
                                           r"shape \[2, 3\]"):
        o.masked_fill_(ptlite.ones(2, 3, dtype=ptlite.bool), 1.0)


# ---- views share storage: writes through every view kind ---------------------------
def test_writes_through_views_reach_the_base():
    base = ptlite.zeros(4, 6)
    views = [base.view(2, 12), base.t(), base[1], base[:, 1:5:2], base.narrow(1, 2, 3),
             base.unsqueeze(0), base[:1].expand(3, 6), base.select(1, 5), base.split(2)[1],
             base.chunk(3, 1)[2], base.unbind(0)[3], base.flatten(), base.permute(1, 0)]
    for k, v in enumerate(views):
        assert np.shares_memory(v.numpy(), base.numpy()), k
        v.fill_(float(k + 1))
        arr = base.numpy()
        assert (arr == k + 1).any(), k
        if k == 6:  # the expanded view's writes land in row 0 only
            assert (arr[0] == k + 1).all()


# ---- dtype and empty sweeps ----------------------------------------------------------
VIEW_OPS = [
    lambda a: a.reshape(4, -1), lambda a: a.permute(2, 0, 1), lambda a: a.transpose(0, 1),
    lambda a: a[:, 1:, ::2], lambda a: a.select(1, -1), lambda a: a.unsqueeze(1),
    lambda a: a[:1].expand(3, 2, 3, 4).squeeze(), lambda a: a.flatten(1), lambda a: a.mT,
    lambda a: a.narrow(2, 1, 2), lambda a: a.unflatten(2, (2, 2)),
]
COPY_OPS = [
    lambda a, M: M.cat([a, a], 1), lambda a, M: M.stack([a, a], -1),
    lambda a, M: a.repeat(1, 2, 1), lambda a, M: a.flip((0, 2)), lambda a, M: a.roll(1, 2),
    lambda a, M: a.index_select(2, M.tensor([3, 0])),
    lambda a, M: (M.nn.functional if M is ptlite else torch.nn.functional).pad(a, (1, 2)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64, torch.int32,
                                   torch.int8, torch.uint8, torch.bool])
def test_dtype_sweep(dtype):
    t, o = pair((2, 3, 4), dtype, layout="transposed")
    for k, f in enumerate(VIEW_OPS):
        check_view(f(o), f(t), o, t)
    for k, f in enumerate(COPY_OPS):
        check_view(f(o, ptlite), f(t, torch))


@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0)])
def test_empty_tensor_sweep(shape):
    t, o = pair(shape)
    for f in VIEW_OPS[:4] + VIEW_OPS[5:6] + VIEW_OPS[7:9]:
        try:
            want = f(t)
        except (RuntimeError, IndexError) as e:
            with pytest.raises(type(e)):
                f(o)
            continue
        got = f(o)
        assert tuple(got.shape) == tuple(want.shape)
        keep = [i for i, n in enumerate(want.shape) if n > 1]
        assert [got.stride()[i] for i in keep] == [want.stride()[i] for i in keep]
    for f in COPY_OPS:
        try:
            want = f(t, torch)
        except (RuntimeError, IndexError) as e:
            with pytest.raises(type(e)):
                f(o, ptlite)
            continue
        assert tuple(f(o, ptlite).shape) == tuple(want.shape)

"""Shape, view, indexing and creation-adjacent ops (csrc/runtime/kernels/shape.c).

Views (reshape when viewable, permute, expand, slice, select) share storage with
their input, exactly as torch's do; their strides follow ATen's rules. Advanced
indexing (tensor / list / bool-mask indices) copies, as in torch.
"""
from __future__ import annotations

import builtins
import operator

import numpy as np

from .. import _dtype as dt
from .._C import UnsupportedError
from .._tensor import Size, Tensor, tensor as _new_tensor
from .table import call, op_id

_RESHAPE = op_id("reshape")
_PERMUTE = op_id("permute")
_EXPAND = op_id("expand")
_SLICE = op_id("slice")
_SELECT = op_id("select")
_CAT = op_id("cat")
_PAD = op_id("pad")
_INDEX_SELECT = op_id("index_select")
_EMBEDDING = op_id("embedding")
_WHERE = op_id("where")
_COPY = op_id("copy")
_FILL = op_id("fill")

_INT64_MAX = 9223372036854775807
_MAX_CAT_INPUTS = 64
_index = operator.index


# ---- argument helpers -----------------------------------------------------------
def _dims_arg(args) -> tuple:
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` and ``f(Size)`` all mean (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(_index(a) for a in args)
    except TypeError:
        bad = next(a for a in args if not _is_int(a))
        raise TypeError(f"expected a sequence of ints, but got an element of type "
                        f"{type(bad).__name__}") from None


def _is_int(a) -> bool:
    try:
        _index(a)
        return True
    except TypeError:
        return False


def _wrap(dim, ndim: int) -> int:
    dim = _index(dim)
    n = ndim if ndim > 0 else 1
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}],"
                         f" but got {dim})")
    return dim + n if dim < 0 else dim


def _shape_list(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# ---- views ----------------------------------------------------------------------
def _alias_view(x: Tensor) -> Tensor:
    """A new view with exactly x's geometry (what torch returns for no-op views)."""
    if x._ndim == 0:
        return call(_RESHAPE, (x,), ())
    return call(_SLICE, (x,), (0, 0, _INT64_MAX, 1))


def reshape(input: Tensor, shape) -> Tensor:
    """A tensor with ``input``'s data and ``shape``; a view whenever possible."""
    return call(_RESHAPE, (input,), _dims_arg((shape,)))


def _reshape_method(self: Tensor, *shape) -> Tensor:
    return call(_RESHAPE, (self,), _dims_arg(shape))


def _view(self: Tensor, *shape) -> Tensor:
    """A view with a new shape; RuntimeError if the strides cannot express it."""
    if len(shape) == 1 and isinstance(shape[0], dt.dtype):
        return _view_dtype(self, shape[0])
    out = call(_RESHAPE, (self,), _dims_arg(shape))
    if out._storage_ptr != self._storage_ptr and self._numel:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return out


def _view_dtype(self: Tensor, dtype: dt.dtype) -> Tensor:
    """view(dtype): reinterprets the bytes (same element size only)."""
    if dtype is self.dtype:
        return call(_RESHAPE, (self,), self._shape)
    if dtype.itemsize != self.dtype.itemsize or dtype.is_quantized or self.dtype.is_quantized:
        raise RuntimeError(f"view(dtype): ptlite supports only dtypes of the same element size "
                           f"({self.dtype} has {self.dtype.itemsize} bytes, {dtype} has "
                           f"{dtype.itemsize})")
    from .._C import from_buffer
    return from_buffer(np.asarray(self).view(dtype._np), dtype.code)


def _view_as(self: Tensor, other: Tensor) -> Tensor:
    return _view(self, other._shape)


def _reshape_as(self: Tensor, other: Tensor) -> Tensor:
    return call(_RESHAPE, (self,), other._shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Flattens dims ``start_dim..end_dim`` into one."""
    shape = input._shape
    n = len(shape)
    if n == 0:
        return call(_RESHAPE, (input,), (1,))
    s, e = _wrap(start_dim, n), _wrap(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    m = 1
    for d in shape[s:e + 1]:
        m *= d
    return call(_RESHAPE, (input,), shape[:s] + (m,) + shape[e + 1:])


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Expands dim ``dim`` into ``sizes`` (one -1 allowed)."""
    shape = input._shape
    d = _wrap(dim, len(shape))
    sizes = _dims_arg((sizes,))
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if sizes.count(-1) > 1 or (-1 not in sizes and known != shape[d]) or \
            (-1 in sizes and (known == 0 or shape[d] % known)):
        raise RuntimeError(f"unflatten: Provided sizes {_shape_list(sizes)} don't multiply up "
                           f"to the size of dim {dim} ({shape[d]}) in the input tensor")
    return call(_RESHAPE, (input,), shape[:d] + sizes + shape[d + 1:])


def permute(input: Tensor, dims) -> Tensor:
    """A view with the dims reordered."""
    return call(_PERMUTE, (input,), _dims_arg((dims,)))


def _permute_method(self: Tensor, *dims) -> Tensor:
    return call(_PERMUTE, (self,), _dims_arg(dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """A view with ``dim0`` and ``dim1`` swapped."""
    n = input._ndim
    a, b = _wrap(dim0, n), _wrap(dim1, n)
    if n == 0:
        return call(_PERMUTE, (input,), ())
    perm = list(range(n))
    perm[a], perm[b] = b, a
    return call(_PERMUTE, (input,), perm)


swapaxes = transpose
swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transposes a tensor of at most 2 dims."""
    n = input._ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return call(_PERMUTE, (input,), (1, 0) if n == 2 else tuple(range(n)))


def _mT(self: Tensor) -> Tensor:
    n = self._ndim
    if n < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {n}-D tensor.")
    return transpose(self, -2, -1)


def movedim(input: Tensor, source, destination) -> Tensor:
    """Moves dims ``source`` to positions ``destination``."""
    n = input._ndim
    src = [source] if _is_int(source) else list(source)
    dst = [destination] if _is_int(destination) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source "
                           f"({src} dims) should contain the same number of dims as "
                           f"destination ({dst} dims)")
    src = [_wrap(s, n) for s in src]
    dst = [_wrap(d, n) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in `source` or `destination`")
    perm = [-1] * n
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(n) if i not in src)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return call(_PERMUTE, (input,), perm)


moveaxis = movedim


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Removes size-1 dims (all, one, or a tuple of them). Keeps the other strides."""
    shape = input._shape
    n = len(shape)
    if dim is None:
        dims = [d for d in range(n) if shape[d] == 1]
    elif isinstance(dim, (tuple, list)):
        dims = sorted({_wrap(d, n) for d in dim})
        dims = [d for d in dims if n and shape[d] == 1]
    else:
        d = _wrap(dim, n)
        dims = [d] if n and shape[d] == 1 else []
    if not dims:
        return _alias_view(input)
    out = input
    for d in reversed(dims):  # select(d, 0) drops a size-1 dim and leaves strides alone
        out = call(_SELECT, (out,), (d, 0))
    return out


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A view with a size-1 dim inserted at ``dim`` (stride as torch: size*stride of the
    dim it precedes, 1 at the end)."""
    shape = input._shape
    n = len(shape)
    if type(dim) is int and -n - 1 <= dim <= n:
        d = dim if dim >= 0 else dim + n + 1
    else:
        d = _wrap(dim, n + 1)
    out = call(_RESHAPE, (input,), shape[:d] + (1,) + shape[d:])
    if d == n:
        return out
    strides = input._strides
    if out._strides[d] == shape[d] * strides[d] and out._strides[d + 1:] == strides[d:] and \
            out._strides[:d] == strides[:d]:
        return out
    # reshape re-derives size-1 strides; rebuild exactly: move dim d first, let expand add
    # a leading dim (stride = size * stride of the next dim), then restore the order
    first = (d,) + tuple(range(d)) + tuple(range(d + 1, n))
    x = call(_PERMUTE, (input,), first)
    x = call(_EXPAND, (x,), (1,) + x._shape)
    back = tuple(range(2, d + 2)) + (0, 1) + tuple(range(d + 2, n + 1))
    return call(_PERMUTE, (x,), back)


def _squeeze_(self: Tensor, dim=None) -> Tensor:
    from .._C import set_
    set_(self, squeeze(self, dim))
    return self


def _unsqueeze_(self: Tensor, dim: int) -> Tensor:
    from .._C import set_
    set_(self, unsqueeze(self, dim))
    return self


def _expand(self: Tensor, *sizes) -> Tensor:
    """A view broadcasting size-1 dims to ``sizes`` (-1 keeps a size); no copy."""
    return call(_EXPAND, (self,), _dims_arg(sizes))


def _expand_as(self: Tensor, other: Tensor) -> Tensor:
    return call(_EXPAND, (self,), other._shape)


def broadcast_to(input: Tensor, size) -> Tensor:
    return call(_EXPAND, (input,), _dims_arg((size,)))


def broadcast_shapes(*shapes) -> Size:
    """The shape the given shapes broadcast to (torch rules)."""
    out: list = []
    for s in shapes:
        s = (_index(s),) if _is_int(s) else tuple(s)
        if len(s) > len(out):
            out = [1] * (len(s) - len(out)) + out
        for i in range(1, len(s) + 1):
            a, b = out[-i], s[-i]
            if a != b and a != 1 and b != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single "
                                   f"shape.  Mismatch is between arg 0 and arg 1 (sizes {a} "
                                   f"and {b} at dim {-i}).")
            out[-i] = a if b == 1 else b
    return Size(out)


def broadcast_tensors(*tensors):
    """Views of ``tensors`` expanded to their common shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tensors[0]
    shape = tuple(broadcast_shapes(*[x._shape for x in tensors]))
    return tuple(x if x._shape == shape else call(_EXPAND, (x,), shape) for x in tensors)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A view of ``length`` elements of ``dim`` from ``start``."""
    if input._ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap(dim, input._ndim)
    size = input._shape[d]
    start, length = _index(start), _index(length)
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                         f"but got {start})")
    if start < 0:
        start += size
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({size}).")
    return call(_SLICE, (input,), (d, start, start + length, 1))


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """A view of ``input`` at ``index`` along ``dim`` (that dim removed)."""
    return call(_SELECT, (input,), (_index(dim), _index(index)))


def split(tensor: Tensor, split_size_or_sections, dim: int = 0):
    """Views of consecutive pieces along ``dim`` (a size, or a list of sizes)."""
    if tensor._ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _wrap(dim, tensor._ndim)
    size = tensor._shape[d]
    if _is_int(split_size_or_sections):
        step = _index(split_size_or_sections)
        if step < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={step}")
        if step == 0:
            if size != 0:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {size}")
            return (call(_SLICE, (tensor,), (d, 0, 0, 1)),)
        sizes = [step] * (size // step) + ([size % step] if size % step else [])
        if not sizes:
            sizes = [0]
    else:
        sizes = [_index(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != size or builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got split_sizes="
                               f"{_shape_list(sizes)}")
    out, pos = [], 0
    for s in sizes:
        out.append(call(_SLICE, (tensor,), (d, pos, pos + s, 1)))
        pos += s
    return tuple(out)


def chunk(input: Tensor, chunks: int, dim: int = 0):
    """Splits into ``chunks`` pieces of size ceil(size / chunks) (the last may be smaller)."""
    chunks = _index(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input._ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    size = input._shape[_wrap(dim, input._ndim)]
    step = (size + chunks - 1) // chunks
    if step == 0:  # empty dim: torch returns `chunks` empty views
        return tuple(call(_SLICE, (input,), (dim, 0, 0, 1)) for _ in range(chunks))
    return split(input, step, dim)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0):
    d = _wrap(dim, input._ndim)
    size = input._shape[d]
    if _is_int(indices_or_sections):
        n = _index(indices_or_sections)
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        q, r = divmod(size, n)
        bounds, pos = [], 0
        for i in range(n):
            pos += q + (1 if i < r else 0)
            bounds.append(pos)
        bounds = bounds[:-1]
    else:
        bounds = [_index(i) for i in indices_or_sections]
    # as ATen: consecutive slices [prev, b), each clamped like Python slicing
    out, prev = [], 0
    for b in list(bounds) + [size]:
        out.append(call(_SLICE, (input,), (d, prev, b, 1)))
        prev = b
    return tuple(out)


def unbind(input: Tensor, dim: int = 0):
    """The slices along ``dim``, each with that dim removed."""
    if input._ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = _wrap(dim, input._ndim)
    return tuple(call(_SELECT, (input,), (d, i)) for i in range(input._shape[d]))


# ---- compute: cat, stack, pad, repeat, index ops ---------------------------------
def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Concatenates ``tensors`` along ``dim`` (torch type promotion)."""
    if isinstance(tensors, Tensor):
        raise TypeError("cat(): argument 'tensors' must be tuple of Tensors, not Tensor")
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    dim = _index(dim)
    if tensors[0]._qparams is not None and out is None:
        # torch's quantized cat: the result takes the first input's qparams and
        # the others are requantized to them (csrc/runtime/kernels/qeltwise.c)
        from . import qeltwise
        return qeltwise.cat(tensors, None, None, dim)
    if len(tensors) > _MAX_CAT_INPUTS:
        parts = [cat(tensors[i:i + _MAX_CAT_INPUTS], dim)
                 for i in range(0, len(tensors), _MAX_CAT_INPUTS)]
        return cat(parts, dim, out=out)
    return call(_CAT, tensors, (dim,), None, out)


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Joins equally shaped tensors along a new dim ``dim``."""
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._shape
    for i, x in enumerate(tensors):
        if x._shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{_shape_list(shape)} at entry 0 and {_shape_list(x._shape)} at "
                               f"entry {i}")
    d = _wrap(dim, len(shape) + 1)
    return cat([unsqueeze(x, d) for x in tensors], d, out=out)


def _atleast(x: Tensor, n: int) -> Tensor:
    if x._ndim >= n:
        return x
    return call(_RESHAPE, (x,), (1,) * (n - x._ndim) + x._shape)


def hstack(tensors, *, out=None) -> Tensor:
    ts = [_atleast(x, 1) for x in tensors]
    return cat(ts, 0 if ts and ts[0]._ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None) -> Tensor:
    return cat([_atleast(x, 2) for x in tensors], 0, out=out)


row_stack = vstack


def _repeat(self: Tensor, *sizes) -> Tensor:
    """Tiles the tensor ``sizes`` times per dim (a copy): expand + reshape."""
    reps = _dims_arg(sizes)
    if len(reps) < self._ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    if builtins.any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(reps)}")
    shape = (1,) * (len(reps) - self._ndim) + self._shape
    inter, target, final = [], [], []
    for r, s in zip(reps, shape):
        inter += [1, s]
        target += [r, s]
        final.append(r * s)
    x = call(_RESHAPE, (self,), inter)
    x = call(_EXPAND, (x,), target)
    out = call(_RESHAPE, (x,), final)
    # reshape copies unless the result is trivially viewable (e.g. empty): always a copy
    if out._storage_ptr == self._storage_ptr:
        out = call(_COPY, (out,), (-1, 0))
    return out


def tile(input: Tensor, dims) -> Tensor:
    reps = _dims_arg((dims,))
    if len(reps) < input._ndim:
        reps = (1,) * (input._ndim - len(reps)) + reps
    return _repeat(input, reps)


def _memory_order(x: Tensor):
    """(x permuted so that it is contiguous, the permutation) for a dense non-contiguous
    x such as a channels-last tensor; (x, None) otherwise. Ops that torch runs through
    TensorIterator keep such layouts; running them on the permuted view does the same."""
    if x._is_contiguous:
        return x, None
    n = x._ndim
    strides = x._strides
    order = sorted(range(n), key=lambda d: -strides[d])
    xp = call(_PERMUTE, (x,), order)
    if not xp._is_contiguous:
        return x, None
    return xp, order


def _restore_order(out: Tensor, order) -> Tensor:
    if order is None:
        return out
    return call(_PERMUTE, (out,), [order.index(d) for d in range(len(order))])


def flip(input: Tensor, dims) -> Tensor:
    """A copy with the order of elements reversed along ``dims`` (keeps a dense layout)."""
    dims = [dims] if _is_int(dims) else list(dims)
    n = input._ndim
    wanted = {_wrap(d, n) for d in dims}
    x, order = _memory_order(input)
    if order is not None:
        wanted = {order.index(d) for d in wanted}
    out = x
    for d in wanted:
        size = x._shape[d]
        idx = _new_tensor(np.arange(size - 1, -1, -1, dtype=np.int64))
        out = call(_INDEX_SELECT, (out, idx), (d,))
    if out is x:
        out = call(_COPY, (x,), (-1, 1))
    return _restore_order(out, order)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Rolls elements along ``dims`` (flattened when dims is None)."""
    if dims is None:
        flat = call(_RESHAPE, (input,), (-1,))
        return call(_RESHAPE, (roll(flat, shifts, 0),), input._shape)
    shifts = [shifts] if _is_int(shifts) else list(shifts)
    dims = [dims] if _is_int(dims) else list(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    # torch's roll keeps channels_last (its suggested memory format), else is contiguous
    x, order = _memory_order(input) if input._is_channels_last else (input, None)
    out = x
    for s, d in zip(shifts, dims):
        d = _wrap(d, input._ndim)
        if order is not None:
            d = order.index(d)
        n = x._shape[d]
        if n == 0:
            continue
        s = _index(s) % n
        if s:
            out = call(_CAT, (call(_SLICE, (out,), (d, n - s, n, 1)),
                              call(_SLICE, (out,), (d, 0, n - s, 1))), (d,))
    if out is x:
        out = call(_COPY, (x,), (-1, 0))
    return _restore_order(out, order)


def index_select(input: Tensor, dim: int, index: Tensor, *, out=None) -> Tensor:
    """Copies the slices of ``input`` at ``index`` (int64/int32, 1-d) along ``dim``."""
    return call(_INDEX_SELECT, (input, index), (_index(dim),), None, out)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False,
           out=None) -> Tensor:
    """Values of ``input`` at ``index`` along ``dim`` (NumPy-backed, a copy)."""
    n = input._ndim
    d = _wrap(dim, n)
    if index._ndim != n:
        raise RuntimeError("Index tensor must have the same number of dimensions as input "
                           "tensor")
    if index.dtype is not dt.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
    a, i = np.asarray(input), np.asarray(index)
    for k in range(n):
        if k != d and i.shape[k] > a.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{_shape_list(i.shape)} to be smaller than self "
                               f"{_shape_list(a.shape)} apart from dimension {d}")
    if i.size and (i.min() < -a.shape[d] or i.max() >= a.shape[d]):
        raise RuntimeError(f"index {int(i.max())} is out of bounds for dimension {d} with size "
                           f"{a.shape[d]}")
    sub = a[tuple(slice(0, s) if k != d else slice(None) for k, s in enumerate(i.shape))]
    res = _new_tensor(np.take_along_axis(sub, i, axis=d), dtype=input.dtype)
    if out is not None:
        return out.copy_(res)
    return res


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``input`` with ``value`` where ``mask`` is True (mask broadcasts)."""
    return _masked_fill(input, mask, value, None)


def _masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    return _masked_fill(self, mask, value, self)


def _masked_fill(x: Tensor, mask: Tensor, value, out) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype is not dt.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{got}")
    if isinstance(value, Tensor):
        if value._ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but "
                               f"got tensor with {value._ndim} dimension(s).")
        value = value.item()
    if out is not None:
        shape = tuple(broadcast_shapes(x._shape, mask._shape))
        if shape != x._shape:
            raise RuntimeError(f"output with shape {_shape_list(x._shape)} doesn't match the "
                               f"broadcast shape {_shape_list(shape)}")
    # value as a 0-d tensor of x's dtype so where() keeps x's dtype, as masked_fill does
    v = call(_FILL, (), (x._dtype, 0), (builtins.float(value),))
    if out is None:
        # torch: the result is a contiguous clone of the (broadcast) input, filled in place
        shape = tuple(broadcast_shapes(x._shape, mask._shape))
        out = call(_COPY, (call(_EXPAND, (x,), shape) if shape != x._shape else x,), (-1, 0))
        x = out
    return call(_WHERE, (mask, v, x), None, None, out)


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """torch.nn.functional.pad: ``pad`` lists (before, after) pairs from the last dim."""
    pads = tuple(_index(p) for p in pad)
    codes = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}
    if mode not in codes:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        n = len(pads) // 2
        if len(pads) % 2 == 0 and (n > 3 or input._ndim not in (n + 1, n + 2)):
            raise NotImplementedError(f"Padding size {len(pads)} is not supported for "
                                      f"{input._ndim}D input tensor.")
    return call(_PAD, (input,), (codes[mode], len(pads)) + pads,
                (builtins.float(0.0 if value is None else value),))


def embedding(input: Tensor, weight: Tensor, padding_idx=None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at ``input`` (any shape) -> input.shape + [embedding_dim]."""
    if max_norm is not None:
        raise UnsupportedError("embedding: max_norm renormalises the weight in place, which "
                               "ptlite does not support; renormalise the weight beforehand")
    if padding_idx is not None and weight._ndim == 2:
        n = weight._shape[0]
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
    return call(_EMBEDDING, (weight, input))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: tensor.shape + [num_classes]."""
    if tensor.dtype is not dt.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    a = np.asarray(tensor)
    if a.size and a.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    elif a.size and a.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    eye = _new_tensor(np.eye(num_classes, dtype=np.int64))
    return call(_EMBEDDING, (eye, tensor))


# ---- indexing --------------------------------------------------------------------
def _check_int_index(i: int, size: int, dim: int) -> int:
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
    return i


def _adv_array(ix) -> np.ndarray:
    """An advanced index (Tensor or list) as a NumPy array (int64 or bool)."""
    if isinstance(ix, Tensor):
        a = np.asarray(ix)
    else:
        a = np.asarray(ix)
        if a.dtype == object:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte Variables are valid indices")
        if a.size == 0:
            a = a.astype(np.int64)
    if a.dtype == np.bool_ or a.dtype == np.uint8:
        return a.astype(np.bool_)
    if not np.issubdtype(a.dtype, np.integer):
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return a.astype(np.int64)


def _parse_index(self: Tensor, idx):
    """Applies the basic part of an index (views) and collects the advanced part.

    Returns (view, advanced, copy) where advanced is a list of (dim in view, int64 array,
    dim in self) and copy says a bool scalar index made this advanced indexing in torch
    (a copy, not a view)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    # how many dims the entries consume, to expand the Ellipsis
    consumed = 0
    for ix in idx:
        if ix is None or ix is Ellipsis or ix is True or ix is False:
            continue
        if isinstance(ix, Tensor) and ix.dtype in (dt.bool, dt.uint8):
            consumed += ix._ndim  # a mask consumes one dim per mask dim
        elif isinstance(ix, (list, np.ndarray)) and np.asarray(ix).dtype == np.bool_:
            consumed += np.asarray(ix).ndim
        else:
            consumed += 1
    if consumed > self._ndim:
        raise IndexError(f"too many indices for tensor of dimension {self._ndim}")
    out = self
    d = 0          # current dim in `out`
    src_dim = 0    # dim of the original tensor (error messages)
    adv = []
    copy = False
    seen_ellipsis = False
    for ix in idx:
        if ix is Ellipsis:
            if seen_ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            skip = self._ndim - consumed
            d += skip
            src_dim += skip
        elif ix is None:
            out = unsqueeze(out, d)
            d += 1
        elif ix is True or ix is False:
            copy = True
            out = unsqueeze(out, d)
            if ix is False:
                out = call(_SLICE, (out,), (d, 0, 0, 1))
            d += 1
        elif isinstance(ix, slice):
            step = 1 if ix.step is None else _index(ix.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start = 0 if ix.start is None else _index(ix.start)
            stop = _INT64_MAX if ix.stop is None else _index(ix.stop)
            if start != 0 or stop != _INT64_MAX or step != 1:
                out = call(_SLICE, (out,), (d, start, stop, step))
            d += 1
            src_dim += 1
        elif type(ix) is int or (not isinstance(ix, (Tensor, list, tuple, builtins.float,
                                                    builtins.bool)) and _is_int(ix)):
            if out._ndim == 0:
                raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in "
                                 "Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor "
                                 "to a number")
            i = _check_int_index(_index(ix), out._shape[d], src_dim)
            out = call(_SELECT, (out,), (d, i))
            src_dim += 1
        elif isinstance(ix, (Tensor, list, tuple, np.ndarray)):
            a = _adv_array(ix)
            if a.dtype == np.bool_:
                k = a.ndim
                if k == 0:  # a 0-d bool tensor acts like True / False
                    copy = True
                    out = unsqueeze(out, d)
                    if not a:
                        out = call(_SLICE, (out,), (d, 0, 0, 1))
                    d += 1
                    continue
                want = out._shape[d:d + k]
                for j in range(k):
                    if a.shape[j] != want[j]:
                        raise IndexError(f"The shape of the mask {_shape_list(a.shape)} at "
                                         f"index {j} does not match the shape of the indexed "
                                         f"tensor {_shape_list(out._shape)} at index {d + j}")
                for j, arr in enumerate(np.nonzero(a)):
                    adv.append((d + j, arr.astype(np.int64), src_dim + j))
                d += k
                src_dim += k
            elif a.ndim == 0 and isinstance(ix, Tensor):  # 0-d integer tensor: like an int
                i = _check_int_index(builtins.int(a), out._shape[d], src_dim)
                out = call(_SELECT, (out,), (d, i))
                src_dim += 1
            else:
                adv.append((d, a, src_dim))
                d += 1
                src_dim += 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte Variables are valid indices (got "
                             f"{type(ix).__name__})")
    return out, adv, copy


def _linear_index(view: Tensor, adv):
    """Broadcasts the advanced indices, wraps negatives and checks bounds."""
    arrays = np.broadcast_arrays(*[a for _, a, _ in adv])
    dims = [d for d, _, _ in adv]
    fixed = []
    for (d, _, src), a in zip(adv, arrays):
        size = view._shape[d]
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            if hi >= size:
                raise IndexError(f"index {hi} is out of bounds for dimension {src} with size "
                                 f"{size}")
            if lo < -size:
                raise IndexError(f"index {lo} is out of bounds for dimension {src} with size "
                                 f"{size}")
        fixed.append(np.where(a < 0, a + size, a))
    return dims, fixed


def _basic_fast(self: Tensor, idx: tuple):
    """x[i, a:b:s, ...] with ints and slices only (the common case); None to fall back."""
    shape = self._shape
    if len(idx) > len(shape):
        return None
    out, d = self, 0
    for src, ix in enumerate(idx):
        tix = type(ix)
        if tix is int:
            size = shape[src]
            if not -size <= ix < size:
                raise IndexError(f"index {ix} is out of bounds for dimension {src} with size "
                                 f"{size}")
            out = call(_SELECT, (out,), (d, ix))
        elif tix is slice:
            step = ix.step
            if step is None:
                step = 1
            elif type(step) is not int or step <= 0:
                return None
            start, stop = ix.start, ix.stop
            if start is None:
                start = 0
            if stop is None:
                stop = _INT64_MAX
            if type(start) is not int or type(stop) is not int:
                return None
            if start != 0 or stop != _INT64_MAX or step != 1:
                out = call(_SLICE, (out,), (d, start, stop, step))
            d += 1
        else:
            return None
    return out if out is not self else _alias_view(self)


def _getitem(self: Tensor, idx) -> Tensor:
    tidx = type(idx)
    if tidx is int:  # the hot path: x[i]
        if self._ndim == 0:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python "
                             "or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        return call(_SELECT, (self,), (0, _check_int_index(idx, self._shape[0], 0)))
    if tidx is tuple or tidx is slice:
        out = _basic_fast(self, idx if tidx is tuple else (idx,))
        if out is not None:
            return out
    view, adv, copy = _parse_index(self, idx)
    if not adv:
        if copy:
            return call(_COPY, (view,), (-1, 1))
        if view is self:  # x[:] / x[...]: still a new view object, as torch
            return _alias_view(self)
        return view
    dims, arrays = _linear_index(view, adv)
    k = len(dims)
    bshape = arrays[0].shape
    adjacent = dims == list(range(dims[0], dims[0] + k))
    if not adjacent:  # torch (like NumPy) puts the indexed dims first
        rest = [i for i in range(view._ndim) if i not in dims]
        view = call(_PERMUTE, (view,), dims + rest)
        dims = list(range(k))
    p = dims[0]
    shape = view._shape
    if k > 1:
        flat_idx = np.ravel_multi_index(arrays, shape[p:p + k]) if arrays[0].size else \
            np.zeros(bshape, np.int64)
        view = call(_RESHAPE, (view,), shape[:p] + (-1,) + shape[p + k:])
    else:
        flat_idx = arrays[0]
    index = _new_tensor(np.ascontiguousarray(flat_idx, dtype=np.int64).reshape(-1))
    out = call(_INDEX_SELECT, (view, index), (p,))
    if len(bshape) != 1:
        out = call(_RESHAPE, (out,), shape[:p] + tuple(bshape) + shape[p + k:])
    return out


def _setitem(self: Tensor, idx, value) -> None:
    view, adv, _ = _parse_index(self, idx)
    if not adv:
        if isinstance(value, Tensor):
            # torch drops leading size-1 dims of the value that the target lacks
            while value._ndim > view._ndim and value._shape[0] == 1:
                value = call(_SELECT, (value,), (0, 0))
            view.copy_(value)
        elif isinstance(value, (builtins.int, builtins.float, builtins.bool, np.number)):
            view.fill_(value)
        else:
            view.copy_(_new_tensor(value, dtype=view.dtype))
        return
    # advanced assignment (index_put_): NumPy writes through the shared memory
    dims, arrays = _linear_index(view, adv)
    target = np.asarray(view)
    key = [slice(None)] * view._ndim
    for d, a in zip(dims, arrays):
        key[d] = a
    if isinstance(value, Tensor):
        value = np.asarray(value)
    target[tuple(key)] = np.asarray(value).astype(target.dtype, copy=False)
    _bump_version(view)


def _bump_version(t: Tensor) -> None:
    """Marks t's storage as written (packed-weight caches key on the version) after a
    NumPy write: an op writing an empty view bumps it without touching data."""
    empty = call(_SLICE, (t,), (0, 0, 0, 1)) if t._ndim else call(_RESHAPE, (t,), (1,))
    empty = call(_SLICE, (empty,), (0, 0, 0, 1))
    call(_FILL, (), (empty._dtype, empty._ndim) + empty._shape, (0.0,), empty)


# ---- registration ------------------------------------------------------------------
def _flatten_method(self, start_dim=0, end_dim=-1):
    return flatten(self, start_dim, end_dim)


def _split_method(self, split_size, dim=0):
    return split(self, split_size, dim)


TORCH_FUNCTIONS = (
    "reshape", "flatten", "unflatten", "permute", "transpose", "swapaxes", "swapdims", "t",
    "movedim", "moveaxis", "squeeze", "unsqueeze", "broadcast_to", "broadcast_shapes",
    "broadcast_tensors", "narrow", "select", "split", "chunk", "tensor_split", "unbind", "cat",
    "concat", "concatenate", "stack", "hstack", "vstack", "row_stack", "tile", "flip", "roll",
    "index_select", "gather", "masked_fill",
)
FUNCTIONAL = ("pad", "embedding", "one_hot")
TENSOR_METHODS = {
    "view": _view,
    "view_as": _view_as,
    "reshape": _reshape_method,
    "reshape_as": _reshape_as,
    "flatten": _flatten_method,
    "unflatten": unflatten,
    "permute": _permute_method,
    "transpose": transpose,
    "swapaxes": transpose,
    "swapdims": transpose,
    "t": t,
    "mT": property(_mT),
    "movedim": movedim,
    "moveaxis": movedim,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "squeeze_": _squeeze_,
    "unsqueeze_": _unsqueeze_,
    "expand": _expand,
    "expand_as": _expand_as,
    "broadcast_to": broadcast_to,
    "repeat": _repeat,
    "tile": tile,
    "flip": flip,
    "roll": roll,
    "split": _split_method,
    "chunk": chunk,
    "tensor_split": tensor_split,
    "unbind": unbind,
    "narrow": narrow,
    "select": select,
    "index_select": index_select,
    "gather": gather,
    "masked_fill": masked_fill,
    "masked_fill_": _masked_fill_,
    "__getitem__": _getitem,
    "__setitem__": _setitem,
}

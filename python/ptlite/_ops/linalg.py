"""Matrix products (csrc/runtime/kernels/linear.c): matmul, mm, bmm, dot, mv and
nn.functional.linear. matmul follows torch.matmul (1-d operands promoted and
squeezed, batch dims broadcast); mm/bmm/dot/mv check their stricter ranks here
with torch's messages, then run the same MATMUL op.
"""
from __future__ import annotations

from .table import call, op_id

_MATMUL = op_id("matmul")
_LINEAR = op_id("linear")


def matmul(input, other, *, out=None):
    """Matrix product with torch.matmul's broadcasting rules."""
    return call(_MATMUL, (input, other), None, None, out)


def _dims(t) -> str:
    return "x".join(str(s) for s in t._shape)


def mm(input, mat2, *, out=None):
    """Product of two matrices (2-d only)."""
    if input._ndim != 2:
        raise RuntimeError(f"mm: self must be a matrix, got a {input._ndim}-d tensor")
    if mat2._ndim != 2:
        raise RuntimeError(f"mm: mat2 must be a matrix, got a {mat2._ndim}-d tensor")
    if input._shape[1] != mat2._shape[0]:
        raise RuntimeError(f"mm: mat1 and mat2 shapes cannot be multiplied "
                           f"({_dims(input)} and {_dims(mat2)})")
    return call(_MATMUL, (input, mat2), None, None, out)


def bmm(input, mat2, *, out=None):
    """Batched product of [b, n, m] and [b, m, p] tensors (no broadcasting)."""
    if input._ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor, got {input._ndim}-d")
    if mat2._ndim != 3:
        raise RuntimeError(f"bmm: batch2 must be a 3D tensor, got {mat2._ndim}-d")
    b, _, m = input._shape
    if mat2._shape[0] != b or mat2._shape[1] != m:
        raise RuntimeError(f"bmm: Expected size for first two dimensions of batch2 tensor to "
                           f"be: [{b}, {m}] but got: [{mat2._shape[0]}, {mat2._shape[1]}].")
    return call(_MATMUL, (input, mat2), None, None, out)


def dot(input, other, *, out=None):
    """Dot product of two 1-d tensors."""
    if input._ndim != 1 or other._ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input._ndim}D and "
                           f"{other._ndim}D tensors")
    return call(_MATMUL, (input, other), None, None, out)


def mv(input, vec, *, out=None):
    """Matrix-vector product."""
    if input._ndim != 2 or vec._ndim != 1:
        raise RuntimeError(f"mv: vector + matrix @ vector expected, got {input._ndim}D and "
                           f"{vec._ndim}D")
    if input._shape[1] != vec._shape[0]:
        raise RuntimeError(f"mv: size mismatch, got input ({input._shape[0]}), mat "
                           f"({_dims(input)}), vec ({vec._shape[0]})")
    return call(_MATMUL, (input, vec), None, None, out)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias, weight [out_features, in_features]."""
    if bias is None:
        return call(_LINEAR, (input, weight))
    return call(_LINEAR, (input, weight, bias))


def _rmatmul(self, other):
    return call(_MATMUL, (other, self))


TORCH_FUNCTIONS = ("matmul", "mm", "bmm", "dot", "mv")
FUNCTIONAL = ("linear",)
TENSOR_METHODS = {
    "matmul": matmul,
    "mm": mm,
    "bmm": bmm,
    "dot": dot,
    "mv": mv,
    "__matmul__": matmul,
    "__rmatmul__": _rmatmul,
}

"""Quantized Embedding and EmbeddingBag: uint8 tables with one float scale and zero point per
row (torch's per_channel_affine_float_qparams), dequantized row by row on lookup, so the
table is 4x smaller and only the looked-up rows are converted."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .... import _dtype as dt
from ...._ops import quant as _q
from ...._tensor import Tensor, tensor
from ... import functional as _F
from ...modules import sparse as _fsparse
from ...modules.module import Module

__all__ = ["Embedding", "EmbeddingBag"]


def _quantize_rows(weight: np.ndarray, scale: np.ndarray,
                   zero_point: np.ndarray) -> np.ndarray:
    # torch's quantize_val_float_qparams: lrintf(x * (1 / scale) + zero_point), clamped
    inv = np.where(scale == 0, np.float32(1.0), np.float32(1.0) / scale).astype(np.float32)
    q = np.rint((weight * inv[:, None]).astype(np.float32) + zero_point[:, None])
    return np.clip(q, 0, 255).astype(np.uint8)


class _EmbeddingBase(Module):
    _NAME = ""

    def _init_table(self, num_embeddings: int, embedding_dim: int, dtype: Any) -> None:
        if dtype != dt.quint8:
            raise NotImplementedError(f"{self._NAME}: only quint8 tables are supported, got "
                                      f"{dtype}")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.dtype = dtype
        self.set_weight_qparams(np.zeros((num_embeddings, embedding_dim), np.uint8),
                                np.ones(num_embeddings, np.float32),
                                np.zeros(num_embeddings, np.float32))

    def set_weight_qparams(self, q: np.ndarray, scale: np.ndarray, zp: np.ndarray) -> None:
        """Sets the uint8 table and its per-row float scale and zero point."""
        self._qtable = tensor(q, dtype=dt.uint8)
        self._scale = tensor(scale.astype(np.float32).reshape(-1, 1))
        # dequantized row = q * scale + bias, bias = -zero_point * scale (torch's prepack)
        self._bias = tensor((-zp.astype(np.float32) * scale.astype(np.float32)).reshape(-1, 1))
        self._zero_point = tensor(zp.astype(np.float32))

    def weight_qparams(self) -> Tuple[Tensor, Tensor]:
        """(scales, zero_points) of the table rows, float32 (per_channel_affine_float_qparams)."""
        return self._scale.reshape(-1), self._zero_point

    def weight(self) -> Tensor:
        """The dequantized float32 table (torch returns a per_channel_affine_float_qparams
        tensor, a scheme ptlite tensors do not carry: use ``int_weight()`` and
        ``weight_qparams()`` for the integers and parameters)."""
        return self._qtable.float() * self._scale + self._bias

    def int_weight(self) -> Tensor:
        """The uint8 table."""
        return self._qtable

    def _rows(self, indices: Tensor) -> Tensor:
        q = _F.embedding(indices, self._qtable).float()
        return q * _F.embedding(indices, self._scale) + _F.embedding(indices, self._bias)

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"dtype={self.dtype}, qscheme={_q.per_channel_affine_float_qparams}")

    def _get_name(self) -> str:
        return self._NAME

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "_packed_params.weight_int"] = self._qtable
        destination[prefix + "_packed_params.scales"] = self._scale.reshape(-1)
        destination[prefix + "_packed_params.zero_points"] = self._zero_point

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any,
                              strict: bool, missing_keys: Any, unexpected_keys: Any,
                              error_msgs: Any) -> None:
        keys = [prefix + "_packed_params." + k for k in ("weight_int", "scales", "zero_points")]
        if all(k in state_dict for k in keys):
            q, s, z = (np.asarray(state_dict.pop(k).numpy()) for k in keys)
            self.set_weight_qparams(q, s, z)
        elif strict:
            missing_keys.extend(k for k in keys if k not in state_dict)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, False, missing_keys,
                                      unexpected_keys, error_msgs)

    @classmethod
    def _from_float(cls, mod: Module, q: "_EmbeddingBase") -> "_EmbeddingBase":
        qconfig = getattr(mod, "qconfig", None)
        if qconfig is None:
            raise RuntimeError(f"{cls._NAME}.from_float: the float module has no qconfig; use "
                               "ptlite.quantization.float_qparams_weight_only_qconfig")
        obs = qconfig.weight()
        if obs.qscheme is not _q.per_channel_affine_float_qparams or obs.dtype != dt.quint8:
            raise RuntimeError(f"{cls._NAME}.from_float: the weight observer must be quint8 "
                               "per_channel_affine_float_qparams "
                               "(float_qparams_weight_only_qconfig), got "
                               f"{obs.dtype} {obs.qscheme}")
        obs(mod.weight)
        scale, zp = obs.calculate_qparams()
        scale = np.asarray(scale.numpy(), np.float32)
        zp = np.asarray(zp.numpy(), np.float32)
        w = np.asarray(mod.weight.detach().float().numpy(), np.float32)
        q.set_weight_qparams(_quantize_rows(w, scale, zp), scale, zp)
        return q


class Embedding(_EmbeddingBase):
    r"""A quantized Embedding module with quantized packed weights as inputs.
    We adopt the same interface as `torch.nn.Embedding`. Lookups return float32.

    Examples::
        >>> m = nn.quantized.Embedding(num_embeddings=10, embedding_dim=12)
        >>> output = m(torch.tensor([9, 6, 5, 7, 8, 8, 9, 2, 8]))
    """

    _NAME = "QuantizedEmbedding"

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: Optional[int] = None, max_norm: Optional[float] = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Optional[Tensor] = None, dtype: Any = dt.quint8) -> None:
        super().__init__()
        if max_norm is not None:
            raise NotImplementedError("quantized Embedding: max_norm is not supported")
        self.padding_idx = padding_idx
        self._init_table(num_embeddings, embedding_dim, dtype)

    def forward(self, indices: Tensor) -> Tensor:
        return self._rows(indices)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False) -> "Embedding":
        """Creates a quantized embedding from a float Embedding with a qconfig."""
        if type(mod) is not _fsparse.Embedding:
            raise TypeError(f"QuantizedEmbedding.from_float only works for Embedding, got "
                            f"{type(mod).__name__}")
        return cls._from_float(mod, cls(mod.num_embeddings, mod.embedding_dim,
                                        mod.padding_idx))


class EmbeddingBag(_EmbeddingBase):
    r"""A quantized EmbeddingBag module with quantized packed weights as inputs.
    We adopt the same interface as `torch.nn.EmbeddingBag`. Bags return float32.
    """

    _NAME = "QuantizedEmbeddingBag"

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 max_norm: Optional[float] = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "sum", sparse: bool = False,
                 _weight: Optional[Tensor] = None, include_last_offset: bool = False,
                 dtype: Any = dt.quint8) -> None:
        super().__init__()
        if max_norm is not None:
            raise NotImplementedError("quantized EmbeddingBag: max_norm is not supported")
        self.mode = mode
        self.include_last_offset = include_last_offset
        self._init_table(num_embeddings, embedding_dim, dtype)

    def forward(self, indices: Tensor, offsets: Optional[Tensor] = None,
                per_sample_weights: Optional[Tensor] = None,
                compressed_indices_mapping: Optional[Tensor] = None) -> Tensor:
        from .... import arange
        flat = indices.reshape(-1)
        rows = self._rows(flat)
        local = arange(flat.numel()).reshape(tuple(indices.shape))
        return _fsparse._embedding_bag(local, rows, offsets, self.mode, per_sample_weights,
                                       self.include_last_offset, None)

    @classmethod
    def from_float(cls, mod: Module,
                   use_precomputed_fake_quant: bool = False) -> "EmbeddingBag":
        """Creates a quantized embedding bag from a float EmbeddingBag with a qconfig."""
        if type(mod) is not _fsparse.EmbeddingBag:
            raise TypeError(f"QuantizedEmbeddingBag.from_float only works for EmbeddingBag, "
                            f"got {type(mod).__name__}")
        return cls._from_float(mod, cls(mod.num_embeddings, mod.embedding_dim, mode=mod.mode,
                                        include_last_offset=mod.include_last_offset))

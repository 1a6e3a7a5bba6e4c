"""Dynamically quantized recurrent layers (torch.ao.nn.quantized.dynamic: LSTM, GRU,
LSTMCell, GRUCell, RNNCell).

Every gate matmul is a dynamic linear (int8 weights, input quantized per call;
or float16 weights), the rest is float32, with torch's structure: per layer and
direction, one input projection over the whole sequence (so its activation
qparams come from the whole sequence, as torch's quantized_lstm does), then per
timestep a hidden projection plus the float gate arithmetic (LSTM gates i, f, g, o;
GRU gates r, z, n), in the order torch's aten cells use.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Tuple

import ptlite

from .... import _dtype as dt
from ...._ops.qdynamic import linear_dynamic, linear_fp16
from ...._tensor import Tensor, zeros
from ... import functional as F
from ...modules import rnn as _frnn
from ...modules.module import Module
from .linear import (engine_reduce_range, quantize_weight, to_fp16_saturated,
                     weight_observer_for)

__all__ = ["RNNBase", "LSTM", "GRU", "RNNCellBase", "LSTMCell", "GRUCell", "RNNCell"]


def _check_dtype(dtype) -> None:
    if dtype not in (dt.qint8, dt.float16):
        raise ValueError(f"Unsupported dtype for dynamic RNN quantization: {dtype}")


_LINEAR_RR = functools.partial(linear_dynamic, reduce_range=True)


def _linear_for(dtype, reduce_range: bool):
    """The gate matmul: int8 dynamic linear with the numerics bound at packing time
    (reduce_range under x86/fbgemm, as torch's make_quantized_cell_params_dynamic
    and cell ops run on the engine's packed weights), or the float16 one."""
    if dtype != dt.qint8:
        return linear_fp16
    return _LINEAR_RR if reduce_range else linear_dynamic


def _bind_engine(mod: Module) -> None:
    """Records the engine's dynamic numerics when weights are packed (set), as torch."""
    mod.__dict__["_rr"] = engine_reduce_range()


def _quantize(w: Tensor, observer_ctor, dtype) -> Tensor:
    w = w.detach().float()
    if dtype == dt.float16:
        return to_fp16_saturated(w)
    observer = observer_ctor()  # a fresh observer per weight, as torch
    observer(w)
    return quantize_weight(w, observer)


def _weight_dtype_of(mod: Module, dtype) -> Tuple[Any, Any]:
    ctor = weight_observer_for(mod)
    if dtype is None:
        dtype = ctor().dtype
    _check_dtype(dtype)
    return ctor, dtype


def _lstm_step(lin, gi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor,
               b_hh: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    hs = c.size(1)
    gates = lin(h, w_hh, b_hh) + gi
    if_gates = ptlite.sigmoid(gates[:, : 2 * hs])
    g = ptlite.tanh(gates[:, 2 * hs: 3 * hs])
    o = ptlite.sigmoid(gates[:, 3 * hs:])
    c = if_gates[:, hs:] * c + if_gates[:, :hs] * g
    return o * ptlite.tanh(c), c


def _gru_step(lin, gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor]) -> Tensor:
    hs = h.size(1)
    gh = lin(h, w_hh, b_hh)
    rz = ptlite.sigmoid(gh[:, : 2 * hs] + gi[:, : 2 * hs])
    n = ptlite.tanh(gi[:, 2 * hs:] + gh[:, 2 * hs:] * rz[:, :hs])
    return (h - n) * rz[:, hs:] + n


class RNNBase(Module):
    """Shared layout of the dynamic LSTM and GRU: per layer and direction the
    quantized (or float16) ``weight_ih`` / ``weight_hh`` and float biases."""

    _FLOAT_MODE = {"LSTM": "LSTM", "GRU": "GRU"}
    _version = 2

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: Any = dt.qint8) -> None:
        super().__init__()
        if mode not in ("LSTM", "GRU"):
            raise ValueError("Unrecognized RNN mode: " + mode)
        _check_dtype(dtype)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.dtype = dtype
        self.version = 2
        self.proj_size = 0
        gate = 4 * hidden_size if mode == "LSTM" else 3 * hidden_size
        dirs = 2 if bidirectional else 1
        self.__dict__["_weights"] = []
        for layer in range(num_layers):
            for _ in range(dirs):
                in_size = input_size if layer == 0 else hidden_size * dirs
                # torch fills a directly constructed module with random weights too
                w_ih = ptlite.randn(gate, in_size)
                w_hh = ptlite.randn(gate, hidden_size)
                ctor = weight_observer_for(self)
                cells = [_quantize(w_ih, ctor, dtype), _quantize(w_hh, ctor, dtype),
                         ptlite.randn(gate) if bias else None,
                         ptlite.randn(gate) if bias else None]
                self._weights.append(cells)
        _bind_engine(self)

    # torch's argument checks and batching helpers, shared with the float modules
    check_input = _frnn.RNNBase.check_input
    get_expected_hidden_size = _frnn.RNNBase.get_expected_hidden_size
    check_hidden_size = _frnn.RNNBase.check_hidden_size
    _is_batched = _frnn.RNNBase._is_batched
    _batched = _frnn.RNNBase._batched
    _time_major = _frnn.RNNBase._time_major
    _batch_size = _frnn.RNNBase._batch_size
    _finish_output = _frnn.RNNBase._finish_output
    extra_repr = _frnn.RNNBase.extra_repr

    def _get_name(self) -> str:
        return "DynamicQuantized" + self.mode

    def _names(self) -> List[str]:
        dirs = 2 if self.bidirectional else 1
        return [f"l{layer}{'_reverse' if d == 1 else ''}"
                for layer in range(self.num_layers) for d in range(dirs)]

    def get_weight(self) -> Dict[str, Tensor]:
        out: Dict[str, Tensor] = {}
        for name, (w_ih, w_hh, _, _) in zip(self._names(), self._weights):
            out["weight_ih_" + name] = w_ih
            out["weight_hh_" + name] = w_hh
        return out

    def get_bias(self) -> Dict[str, Optional[Tensor]]:
        out: Dict[str, Optional[Tensor]] = {}
        for name, (_, _, b_ih, b_hh) in zip(self._names(), self._weights):
            out["bias_ih_" + name] = b_ih
            out["bias_hh_" + name] = b_hh
        return out

    def _weight_bias(self) -> Dict[str, Dict[str, Any]]:
        return {"weight": self.get_weight(), "bias": self.get_bias()}

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        # torch keeps one packed (weights, biases) object per layer and direction
        for i, cells in enumerate(self._weights):
            destination[f"{prefix}_all_weight_values.{i}.param"] = tuple(cells)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        for i in range(len(self._weights)):
            key = f"{prefix}_all_weight_values.{i}.param"
            if key in state_dict:
                self._weights[i] = list(state_dict[key])
            elif strict:
                missing_keys.append(key)
        _bind_engine(self)  # torch repacks loaded weights under the current engine

    def _run(self, input: Tensor, hx: Tensor, cx: Optional[Tensor]):
        """input [T, B, I] (time major), hx (and cx) [L*D, B, H] -> (output, h_n, c_n)."""
        lin = _linear_for(self.dtype, self._rr)
        dirs = 2 if self.bidirectional else 1
        seq_len = input.size(0)
        layer_input = input
        h_n: List[Tensor] = []
        c_n: List[Tensor] = []
        for layer in range(self.num_layers):
            dir_outputs = []
            for direction in range(dirs):
                idx = layer * dirs + direction
                w_ih, w_hh, b_ih, b_hh = self._weights[idx]
                h = hx[idx]
                c = cx[idx] if cx is not None else None
                gi_all = lin(layer_input, w_ih, b_ih) if seq_len > 0 else None
                steps = range(seq_len - 1, -1, -1) if direction == 1 else range(seq_len)
                outs: List[Optional[Tensor]] = [None] * seq_len
                for t in steps:
                    if self.mode == "LSTM":
                        h, c = _lstm_step(lin, gi_all[t], h, c, w_hh, b_hh)
                    else:
                        h = _gru_step(lin, gi_all[t], h, w_hh, b_hh)
                    outs[t] = h
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
                dir_outputs.append(ptlite.stack(outs, 0) if seq_len > 0
                                   else zeros(0, hx.size(1), hx.size(2)))
            layer_input = dir_outputs[0] if dirs == 1 else ptlite.cat(dir_outputs, 2)
            if self.dropout != 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        c_out = ptlite.stack(c_n, 0) if cx is not None else None
        return layer_input, ptlite.stack(h_n, 0), c_out

    def _hidden_in(self, input: Tensor, hx: Optional[Tensor], is_batched: bool) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            batch = self._batch_size(self._batched(input, is_batched))
            return zeros(self.num_layers * dirs, batch, self.hidden_size, dtype=input.dtype)
        if not is_batched:
            if hx.dim() != 2:
                raise RuntimeError("For unbatched 2-D input, hx should also be 2-D but got "
                                   f"{hx.dim()}-D tensor")
            return hx.unsqueeze(1)
        if hx.dim() != 3:
            raise RuntimeError("For batched 3-D input, hx should also be 3-D but got "
                               f"{hx.dim()}-D tensor")
        return hx

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False):
        """Quantizes a float LSTM / GRU: each weight with a fresh weight observer from
        mod's qconfig (else default_dynamic_qconfig); biases stay float."""
        want = "LSTM" if cls is LSTM else "GRU"
        if type(mod).__name__ != want:
            raise AssertionError(f"nn.quantized.dynamic.{want}.from_float only works for "
                                 f"nn.{want}, got {type(mod).__name__}")
        if not mod.bias:
            raise AssertionError("mod.bias must be True")  # as torch's dynamic RNNs
        if getattr(mod, "proj_size", 0):
            raise RuntimeError("dynamic quantized LSTM does not support proj_size > 0")
        ctor, dtype = _weight_dtype_of(mod, None)
        q = cls.__new__(cls)
        Module.__init__(q)
        for k in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                  "bidirectional"):
            setattr(q, k, getattr(mod, k))
        q.mode = want
        q.dropout = float(mod.dropout)
        q.dtype = dtype
        q.version = 2
        q.proj_size = 0
        dirs = 2 if mod.bidirectional else 1
        weights = []
        for layer in range(mod.num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}{'_reverse' if d == 1 else ''}"
                b_ih = getattr(mod, "bias_ih" + sfx).detach().float() if mod.bias else None
                b_hh = getattr(mod, "bias_hh" + sfx).detach().float() if mod.bias else None
                weights.append([_quantize(getattr(mod, "weight_ih" + sfx), ctor, dtype),
                                _quantize(getattr(mod, "weight_hh" + sfx), ctor, dtype),
                                b_ih, b_hh])
        q.__dict__["_weights"] = weights
        _bind_engine(q)
        return q


class LSTM(RNNBase):
    r"""A dynamic quantized LSTM module with floating point tensors as inputs and outputs
    (torch's interface: ``output, (h_n, c_n) = lstm(input, (h_0, c_0))``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None):
        self.check_input(input, None)  # torch's dynamic RNNs take batched 3-D input only
        is_batched = True
        if hx is None:
            h = self._hidden_in(input, None, is_batched)
            hx = (h, zeros(*h.shape, dtype=input.dtype))
        else:
            if is_batched and (hx[0].dim() != 3 or hx[1].dim() != 3):
                raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but "
                                   f"got ({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            if not is_batched:
                if hx[0].dim() != 2 or hx[1].dim() != 2:
                    raise RuntimeError("For unbatched 2-D input, hx and cx should also be "
                                       f"2-D but got ({hx[0].dim()}-D, {hx[1].dim()}-D) "
                                       "tensors")
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        batched = self._batched(input, is_batched)
        self.check_input(batched, None)
        expected = self.get_expected_hidden_size(batched, None)
        self.check_hidden_size(hx[0], expected, "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hx[1], expected, "Expected hidden[1] size {}, got {}")
        output, h_n, c_n = self._run(self._time_major(batched), hx[0], hx[1])
        output = self._finish_output(output, is_batched)
        if not is_batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)


class GRU(RNNBase):
    r"""A dynamic quantized GRU module (torch's interface: ``output, h_n = gru(input, h_0)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None):
        self.check_input(input, None)  # torch's dynamic RNNs take batched 3-D input only
        is_batched = True
        hx = self._hidden_in(input, hx, is_batched)
        batched = self._batched(input, is_batched)
        self.check_input(batched, None)
        self.check_hidden_size(hx, self.get_expected_hidden_size(batched, None))
        output, h_n, _ = self._run(self._time_major(batched), hx, None)
        output = self._finish_output(output, is_batched)
        if not is_batched:
            h_n = h_n.squeeze(1)
        return output, h_n


class RNNCellBase(Module):
    """Dynamic quantized cells: ``weight_ih`` / ``weight_hh`` quantized (or float16),
    ``bias_ih`` / ``bias_hh`` float."""

    _FLOAT = ""
    _CHUNKS = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 num_chunks: int = 4, dtype: Any = dt.qint8) -> None:
        super().__init__()
        _check_dtype(dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_dtype = dtype
        ctor = weight_observer_for(self)
        self.__dict__["_w_ih"] = _quantize(zeros(num_chunks * hidden_size, input_size), ctor,
                                           dtype)
        self.__dict__["_w_hh"] = _quantize(zeros(num_chunks * hidden_size, hidden_size), ctor,
                                           dtype)
        self.__dict__["bias_ih"] = zeros(num_chunks * hidden_size) if bias else None
        self.__dict__["bias_hh"] = zeros(num_chunks * hidden_size) if bias else None
        _bind_engine(self)

    extra_repr = _frnn.RNNCellBase.extra_repr
    _check = _frnn.RNNCellBase._check
    _check_hidden = _frnn.RNNCellBase._check_hidden

    def _get_name(self) -> str:
        return "DynamicQuantized" + self._FLOAT

    def _weight_bias(self) -> Dict[str, Dict[str, Any]]:
        return {"weight": {"weight_ih": self._w_ih, "weight_hh": self._w_hh},
                "bias": {"bias_ih": self.bias_ih, "bias_hh": self.bias_hh}}

    def get_weight(self) -> Dict[str, Tensor]:
        return self._weight_bias()["weight"]

    def get_bias(self) -> Dict[str, Optional[Tensor]]:
        return self._weight_bias()["bias"]

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        destination[prefix + "_packed_weight_ih"] = self._w_ih
        destination[prefix + "_packed_weight_hh"] = self._w_hh
        destination[prefix + "bias_ih"] = self.bias_ih
        destination[prefix + "bias_hh"] = self.bias_hh

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        for key, attr in (("_packed_weight_ih", "_w_ih"), ("_packed_weight_hh", "_w_hh"),
                          ("bias_ih", "bias_ih"), ("bias_hh", "bias_hh")):
            if prefix + key in state_dict:
                self.__dict__[attr] = state_dict[prefix + key]
            elif strict:
                missing_keys.append(prefix + key)
        _bind_engine(self)

    def _prepare(self, input: Tensor, hx):
        """(batched input, was batched, gi = input projection)."""
        is_batched = self._check(input, None)
        if not is_batched:
            input = input.unsqueeze(0)
        lin = _linear_for(self.weight_dtype, self._rr)
        return input, is_batched, lin, lin(input, self._w_ih, self.bias_ih)

    @classmethod
    def from_float(cls, mod: Module, use_precomputed_fake_quant: bool = False):
        if type(mod).__name__ != cls._FLOAT:
            raise AssertionError(f"nn.quantized.dynamic.{cls._FLOAT}.from_float only works "
                                 f"for nn.{cls._FLOAT}, got {type(mod).__name__}")
        ctor, dtype = _weight_dtype_of(mod, None)
        q = cls.__new__(cls)
        Module.__init__(q)
        q.input_size = mod.input_size
        q.hidden_size = mod.hidden_size
        q.bias = mod.bias
        q.weight_dtype = dtype
        if cls is RNNCell:
            q.nonlinearity = mod.nonlinearity
        q.__dict__["_w_ih"] = _quantize(mod.weight_ih, ctor, dtype)
        q.__dict__["_w_hh"] = _quantize(mod.weight_hh, ctor, dtype)
        q.__dict__["bias_ih"] = mod.bias_ih.detach().float() if mod.bias else None
        q.__dict__["bias_hh"] = mod.bias_hh.detach().float() if mod.bias else None
        _bind_engine(q)
        return q


class LSTMCell(RNNCellBase):
    r"""A dynamic quantized LSTMCell: ``h_1, c_1 = cell(input, (h_0, c_0))``."""

    _FLOAT = "LSTMCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = dt.qint8) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None):
        x, is_batched, lin, gi = self._prepare(input, hx)
        if hx is None:
            z = zeros(x.size(0), self.hidden_size, dtype=x.dtype)
            hx = (z, z)
        elif not is_batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        self._check_hidden(x, hx[0], "[0]")
        self._check_hidden(x, hx[1], "[1]")
        h, c = _lstm_step(lin, gi, hx[0], hx[1], self._w_hh, self.bias_hh)
        if not is_batched:
            h, c = h.squeeze(0), c.squeeze(0)
        return h, c


class GRUCell(RNNCellBase):
    r"""A dynamic quantized GRUCell: ``h_1 = cell(input, h_0)``."""

    _FLOAT = "GRUCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = dt.qint8) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, is_batched, lin, gi = self._prepare(input, hx)
        if hx is None:
            hx = zeros(x.size(0), self.hidden_size, dtype=x.dtype)
        elif not is_batched:
            hx = hx.unsqueeze(0)
        self._check_hidden(x, hx)
        h = _gru_step(lin, gi, hx, self._w_hh, self.bias_hh)
        return h if is_batched else h.squeeze(0)


class RNNCell(RNNCellBase):
    r"""A dynamic quantized RNNCell (tanh or relu): ``h_1 = cell(input, h_0)``."""

    _FLOAT = "RNNCell"
    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = dt.qint8) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, is_batched, lin, gi = self._prepare(input, hx)
        if hx is None:
            hx = zeros(x.size(0), self.hidden_size, dtype=x.dtype)
        elif not is_batched:
            hx = hx.unsqueeze(0)
        self._check_hidden(x, hx)
        pre = lin(hx, self._w_hh, self.bias_hh) + gi
        if self.nonlinearity == "tanh":
            h = ptlite.tanh(pre)
        elif self.nonlinearity == "relu":
            h = F.relu(pre)
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return h if is_batched else h.squeeze(0)

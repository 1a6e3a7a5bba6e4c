"""RNN, LSTM, GRU and their cells against torch.nn: parameter names and shapes, repr,
forward outputs and final states with torch's weights loaded through load_state_dict,
default initialisation, and the argument errors torch raises."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch

import ptlite
import ptlite.nn as nn
from conftest import assert_close

RTOL, ATOL = 1e-5, 1e-6


def torch_repr(s: str) -> str:
    return re.sub(r"\btorch\b", "ptlite", s)


def pair(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = getattr(torch.nn, cls)(*args, **kwargs)
        p = getattr(nn, cls)(*args, **kwargs)
    assert repr(p) == torch_repr(repr(t))
    assert ([(k, tuple(v.shape)) for k, v in p.state_dict().items()] ==
            [(k, tuple(v.shape)) for k, v in t.state_dict().items()])
    p.load_state_dict(t.state_dict())
    return t, p


def randn(*shape):
    return np.random.randn(*shape).astype(np.float32)


def to_p(x):
    return ptlite.tensor(x)


def to_t(x):
    return torch.from_numpy(x)


def compare(out_p, out_t):
    if isinstance(out_t, tuple):
        assert isinstance(out_p, tuple) and len(out_p) == len(out_t)
        for a, b in zip(out_p, out_t):
            compare(a, b)
    else:
        assert_close(out_p, out_t, rtol=RTOL, atol=ATOL)


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bias=False),
    dict(batch_first=True),
    dict(bidirectional=True),
    dict(num_layers=3, bidirectional=True, batch_first=True),
    dict(num_layers=2, dropout=0.3),  # eval mode: no dropout
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(c) for c in CONFIGS])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
def test_recurrent_matches_torch(cls, cfg, with_hx, backend):
    I, H, T, B = 5, 7, 6, 3
    t, p = pair(cls, I, H, **cfg)
    t.eval()
    p.eval()
    D = 2 if cfg.get("bidirectional") else 1
    L = cfg.get("num_layers", 1)
    x = randn(B, T, I) if cfg.get("batch_first") else randn(T, B, I)
    args_t, args_p = [to_t(x)], [to_p(x)]
    if with_hx:
        h0 = randn(L * D, B, H)
        if cls == "LSTM":
            c0 = randn(L * D, B, H)
            args_t.append((to_t(h0), to_t(c0)))
            args_p.append((to_p(h0), to_p(c0)))
        else:
            args_t.append(to_t(h0))
            args_p.append(to_p(h0))
    with torch.no_grad():
        out_t = t(*args_t)
    out_p = p(*args_p)
    compare(out_p, out_t)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(cls, batch_first):
    t, p = pair(cls, 4, 6, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = randn(5, 4)
    with torch.no_grad():
        out_t = t(to_t(x))
    compare(p(to_p(x)), out_t)
    h0 = randn(4, 6)
    if cls == "LSTM":
        c0 = randn(4, 6)
        with torch.no_grad():
            out_t = t(to_t(x), (to_t(h0), to_t(c0)))
        compare(p(to_p(x), (to_p(h0), to_p(c0))), out_t)
    else:
        with torch.no_grad():
            out_t = t(to_t(x), to_t(h0))
        compare(p(to_p(x), to_p(h0)), out_t)


def test_rnn_relu_and_positional_nonlinearity():
    t, p = pair("RNN", 3, 4, 2, "relu")
    assert p.nonlinearity == "relu" and p.mode == "RNN_RELU"
    x = randn(5, 2, 3)
    with torch.no_grad():
        out_t = t(to_t(x))
    compare(p(to_p(x)), out_t)


def test_lstm_proj_size():
    t, p = pair("LSTM", 4, 8, num_layers=2, proj_size=3, bidirectional=True)
    x = randn(5, 2, 4)
    with torch.no_grad():
        out_t = t(to_t(x))
    compare(p(to_p(x)), out_t)


def test_dropout_between_layers_in_training():
    # p=1 drops every first-layer output: deterministic, so comparable with torch
    t, p = pair("LSTM", 3, 5, num_layers=2, dropout=1.0)
    t.train()
    p.train()
    x = randn(4, 2, 3)
    with torch.no_grad():
        out_t = t(to_t(x))
    compare(p(to_p(x)), out_t)
    # eval mode ignores dropout
    t.eval()
    p.eval()
    with torch.no_grad():
        out_t = t(to_t(x))
    compare(p(to_p(x)), out_t)
    # 0 < p < 1 in training changes the output, in eval it does not
    q = nn.GRU(3, 5, num_layers=2, dropout=0.5)
    q.eval()
    ref = q(to_p(x))[0].numpy().copy()
    q.train()
    ptlite.manual_seed(0)
    assert not np.allclose(q(to_p(x))[0].numpy(), ref)


def test_empty_sequence_and_zero_batch():
    t, p = pair("GRU", 3, 4)
    x = randn(0, 2, 3)
    out_p, h_p = p(to_p(x))
    assert tuple(out_p.shape) == (0, 2, 4)
    np.testing.assert_array_equal(h_p.numpy(), np.zeros((1, 2, 4), np.float32))


# ---- cells -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                    ("RNNCell", {"bias": False}), ("LSTMCell", {}),
                                    ("LSTMCell", {"bias": False}), ("GRUCell", {}),
                                    ("GRUCell", {"bias": False})])
def test_cells_match_torch(cls, kw, backend):
    t, p = pair(cls, 5, 6, **kw)
    x = randn(3, 5)
    h = randn(3, 6)
    c = randn(3, 6)
    for xs, hs in [(x, None), (x, (h, c) if cls == "LSTMCell" else h),
                   (x[0], None), (x[0], (h[0], c[0]) if cls == "LSTMCell" else h[0])]:
        if hs is None:
            args_t, args_p = (to_t(xs),), (to_p(xs),)
        elif isinstance(hs, tuple):
            args_t = (to_t(xs), tuple(to_t(v) for v in hs))
            args_p = (to_p(xs), tuple(to_p(v) for v in hs))
        else:
            args_t, args_p = (to_t(xs), to_t(hs)), (to_p(xs), to_p(hs))
        with torch.no_grad():
            out_t = t(*args_t)
        compare(p(*args_p), out_t)


def test_cell_sequence_equals_layer():
    """Unrolling an LSTMCell with the layer's weights reproduces the LSTM layer."""
    t, p = pair("LSTM", 4, 5)
    cell = nn.LSTMCell(4, 5)
    cell.load_state_dict({k[:-3]: v for k, v in p.state_dict().items()})
    x = randn(6, 2, 4)
    out, (h_n, c_n) = p(to_p(x))
    h = c = None
    for step in range(6):
        h, c = cell(to_p(x[step]), None if h is None else (h, c))
        np.testing.assert_allclose(h.numpy(), out.numpy()[step], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), c_n.numpy()[0], rtol=1e-5, atol=1e-6)


# ---- init --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.LSTM(10, 64, num_layers=2, bidirectional=True),
                                  lambda: nn.GRU(10, 64), lambda: nn.RNN(10, 64),
                                  lambda: nn.LSTMCell(10, 64), lambda: nn.GRUCell(10, 64)])
def test_init_uniform_one_over_sqrt_hidden(make):
    ptlite.manual_seed(0)
    m = make()
    bound = 1 / math.sqrt(64)
    for name, w in m.named_parameters():
        a = w.numpy()
        assert np.abs(a).max() <= bound, name
        if a.size > 1000:
            assert abs(a.std() - bound / math.sqrt(3)) < 0.05 * bound, name


# ---- structure and errors ----------------------------------------------------------------------
def test_parameter_layout_matches_torch():
    t, p = pair("LSTM", 3, 4, num_layers=2, bidirectional=True, proj_size=2)
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert p._flat_weights_names == t._flat_weights_names
    assert len(p.all_weights) == len(t.all_weights)
    for cls, kw in [("GRU", dict(num_layers=2, bias=False, batch_first=True, dropout=0.1)),
                    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
                    ("LSTMCell", dict(bias=False)), ("RNNCell", dict(nonlinearity="relu")),
                    ("GRUCell", {})]:
        t, p = pair(cls, 3, 4, **kw)
        assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]


def _errors(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as et:
            call(torch)
        with pytest.raises(Exception) as ep:
            call(ptlite)
    assert type(ep.value) is type(et.value), (ep.value, et.value)
    assert str(ep.value) == torch_repr(str(et.value))


def _z(L, *shape):
    return L.zeros(*shape)


ERROR_CASES = [
    lambda L: L.nn.LSTM(5, 4)(_z(L, 2, 3, 4, 5)),
    lambda L: L.nn.GRU(5, 4)(_z(L, 3, 2, 4)),
    lambda L: L.nn.LSTM(5, 4)(_z(L, 3, 2, 5), (_z(L, 1, 3, 4), _z(L, 1, 2, 4))),
    lambda L: L.nn.LSTM(5, 4)(_z(L, 3, 2, 5), (_z(L, 1, 2, 4), _z(L, 2, 2, 4))),
    lambda L: L.nn.LSTM(5, 4)(_z(L, 3, 2, 5), (_z(L, 2, 4), _z(L, 2, 4))),
    lambda L: L.nn.LSTM(5, 4)(_z(L, 3, 5), (_z(L, 1, 1, 4), _z(L, 1, 1, 4))),
    lambda L: L.nn.GRU(5, 4, num_layers=2)(_z(L, 3, 2, 5), _z(L, 1, 2, 4)),
    lambda L: L.nn.GRU(5, 4)(_z(L, 3, 2, 5), _z(L, 2, 4)),
    lambda L: L.nn.RNN(5, 4, batch_first=True)(_z(L, 2, 3, 5), _z(L, 1, 3, 4)),
    lambda L: L.nn.LSTM(5, 0),
    lambda L: L.nn.LSTM(5, 4, num_layers=0),
    lambda L: L.nn.GRU(5, 4, dropout=1.5),
    lambda L: L.nn.LSTM(5, 4, proj_size=4),
    lambda L: L.nn.GRU(5, 4, proj_size=2),
    lambda L: L.nn.RNN(5, 4, nonlinearity="gelu"),
    lambda L: L.nn.RNNCell(5, 4)(_z(L, 2, 2, 5)),
    lambda L: L.nn.GRUCell(5, 4)(_z(L, 2, 5), _z(L, 2, 2, 4)),
    lambda L: L.nn.LSTMCell(5, 4)(_z(L, 2, 2, 5)),
]


@pytest.mark.parametrize("call", ERROR_CASES, ids=[str(i) for i in range(len(ERROR_CASES))])
def test_errors_match_torch(call):
    _errors(call)


def test_dropout_warning_single_layer():
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last "
                                         "recurrent layer"):
        nn.LSTM(3, 4, dropout=0.5)

"""Quantized Embedding / EmbeddingBag (uint8 rows with float scale and zero point per row,
torch's per_channel_affine_float_qparams) and the float-qparams observer, against torch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ptlite

pq = ptlite.quantization
tq = torch.ao.quantization


def test_float_qparams_observer_matches_torch():
    x = np.random.randn(7, 5).astype(np.float32)
    x[3] = 0.25  # a constant row: scale falls back to 1
    o = pq.float_qparams_weight_only_qconfig.weight()
    t = tq.float_qparams_weight_only_qconfig.weight()
    o(ptlite.tensor(x))
    t(torch.from_numpy(x))
    (s, z), (ts, tz) = o.calculate_qparams(), t.calculate_qparams()
    np.testing.assert_array_equal(s.numpy(), ts.numpy())
    np.testing.assert_array_equal(z.numpy(), tz.numpy())
    assert o.qscheme is ptlite.per_channel_affine_float_qparams


def _pair(kind, **kw):
    n, d = 20, 8
    w = np.random.randn(n, d).astype(np.float32)
    pm = getattr(ptlite.nn, kind)(n, d, **kw)
    tm = getattr(torch.nn, kind)(n, d, **kw)
    pm.weight.data.copy_(ptlite.tensor(w))
    with torch.no_grad():
        tm.weight.copy_(torch.from_numpy(w))
    return pm, tm, w


@pytest.mark.parametrize("flow", ["static", "dynamic"])
def test_quantized_embedding_matches_torch(flow):
    pm, tm, w = _pair("Embedding")
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lib, m, q in ((ptlite, pm, pq), (torch, tm, tq)):
            wrap = lib.nn.Sequential(m)
            if flow == "static":
                wrap.qconfig = q.float_qparams_weight_only_qconfig
                models.append(q.convert(q.prepare(wrap)))
            else:
                models.append(q.quantize_dynamic(
                    wrap, {lib.nn.Embedding: q.float_qparams_weight_only_qconfig}))
    qp, qt = models
    assert repr(qp[0]).replace("ptlite.", "torch.") == repr(qt[0])
    idx = np.array([[0, 5, 19], [3, 3, 7]])
    out_p = qp(ptlite.tensor(idx)).numpy()
    out_t = qt(torch.from_numpy(idx)).numpy()
    assert out_p.dtype == np.float32 and out_p.shape == (2, 3, 8)
    scale = qt[0].weight().q_per_channel_scales().numpy().astype(np.float32)
    np.testing.assert_array_equal(qp[0].int_weight().numpy(), qt[0].weight().int_repr().numpy())
    np.testing.assert_allclose(out_p, out_t, rtol=0, atol=1e-6)
    # and close to the float table: within half a step per row
    err = np.abs(out_p - w[idx]) / scale[idx][..., None]
    assert err.max() <= 0.5 + 1e-3


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_quantized_embedding_bag_matches_torch(mode):
    pm, tm, _ = _pair("EmbeddingBag", mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qp = pq.quantize_dynamic(ptlite.nn.Sequential(pm), {ptlite.nn.EmbeddingBag:
                                                          pq.float_qparams_weight_only_qconfig})
        qt = tq.quantize_dynamic(torch.nn.Sequential(tm), {torch.nn.EmbeddingBag:
                                                         tq.float_qparams_weight_only_qconfig})
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9])
    off = np.array([0, 3, 5])
    out_p = qp[0](ptlite.tensor(idx), ptlite.tensor(off)).numpy()
    out_t = qt[0](torch.from_numpy(idx), torch.from_numpy(off)).numpy()
    assert repr(qp[0]).replace("ptlite.", "torch.") == repr(qt[0])
    if mode == "sum":
        np.testing.assert_allclose(out_p, out_t, rtol=1e-6, atol=1e-5)
    else:
        # torch's quantized EmbeddingBag.forward always reduces with 'sum' (it passes mode 0
        # to embedding_bag_byte whatever its mode says); ptlite honours the mode: compare
        # with torch's float EmbeddingBag over the same dequantized table
        deq = torch.from_numpy(qp[0].weight().numpy())
        want = torch.nn.functional.embedding_bag(torch.from_numpy(idx), deq,
                                                 torch.from_numpy(off), mode=mode).numpy()
        np.testing.assert_allclose(out_p, want, rtol=1e-6, atol=1e-6)


def test_quantized_embedding_state_dict_and_errors():
    pm, _, _ = _pair("Embedding")
    pm = ptlite.nn.Sequential(pm)
    q = pq.quantize_dynamic(pm, {ptlite.nn.Embedding: pq.float_qparams_weight_only_qconfig})
    fresh = ptlite.nn.quantized.Embedding(20, 8)
    fresh.load_state_dict({k[2:]: v for k, v in q.state_dict().items()})
    idx = ptlite.tensor([1, 2, 3])
    np.testing.assert_array_equal(fresh(idx).numpy(), q[0](idx).numpy())
    with pytest.raises(RuntimeError, match="float_qparams_weight_only_qconfig"):
        e = ptlite.nn.Embedding(4, 2)
        e.qconfig = pq.default_qconfig
        ptlite.nn.quantized.Embedding.from_float(e)
    with pytest.raises(NotImplementedError, match="only quint8"):
        ptlite.nn.quantized.Embedding(4, 2, dtype=ptlite.qint8)

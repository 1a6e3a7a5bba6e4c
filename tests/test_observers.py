"""ptlite.quantization observers against torch.ao.quantization's (torch is the oracle only)."""
import copy
import itertools
import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.ao.quantization as tq

import ptlite
import ptlite.ao.quantization as aq
import ptlite.quantization as pq

TQS = {"per_tensor_affine": torch.per_tensor_affine,
       "per_tensor_symmetric": torch.per_tensor_symmetric,
       "per_channel_affine": torch.per_channel_affine,
       "per_channel_symmetric": torch.per_channel_symmetric}
PQS = {"per_tensor_affine": pq.per_tensor_affine, "per_tensor_symmetric": pq.per_tensor_symmetric,
       "per_channel_affine": pq.per_channel_affine,
       "per_channel_symmetric": pq.per_channel_symmetric}
DT = {"quint8": (ptlite.quint8, torch.quint8), "qint8": (ptlite.qint8, torch.qint8),
      "qint32": (ptlite.qint32, torch.qint32)}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make(name, kw, qs="per_tensor_affine", dtype="quint8"):
    pk = dict(kw, qscheme=PQS[qs], dtype=DT[dtype][0])
    tk = dict(kw, qscheme=TQS[qs], dtype=DT[dtype][1])
    return getattr(aq, name)(**pk), getattr(tq, name)(**tk)


def streams():
    r = np.random.default_rng(0)
    yield "randn4d", [r.standard_normal((2, 3, 4, 5)).astype(np.float32) * s + o
                      for s, o in ((1, 0), (3, 1), (0.5, -2))]
    yield "uniform2d", [r.uniform(-1, 7, (8, 6)).astype(np.float32) for _ in range(3)]
    yield "growing", [r.standard_normal((4, 6, 3)).astype(np.float32) * (k + 1) for k in range(4)]
    yield "zeros", [np.zeros((3, 4), np.float32)] * 2
    yield "constant", [np.full((3, 4), 2.5, np.float32)] * 2
    yield "negative", [-np.abs(r.standard_normal((3, 4, 2))).astype(np.float32) - 0.1
                       for _ in range(2)]
    yield "tiny", [r.standard_normal((5, 4)).astype(np.float32) * 1e-9 for _ in range(2)]
    yield "outliers", [np.concatenate([r.standard_normal(4000), [40.0, -25.0]]).astype(
        np.float32).reshape(2, 2001) for _ in range(2)]


STREAMS = list(streams())


def feed(p, t, batches, transpose=False):
    for b in batches:
        tb = torch.tensor(b)
        pb = ptlite.tensor(b)
        if transpose and b.ndim >= 2:  # non-contiguous inputs
            tb, pb = tb.transpose(0, 1), pb.transpose(0, 1)
        assert p(pb) is pb
        t(tb)


def assert_same_qparams(p, t):
    ps, pz = p.calculate_qparams()
    ts, tz = t.calculate_qparams()
    np.testing.assert_array_equal(ps.numpy(), ts.numpy())
    np.testing.assert_array_equal(pz.numpy(), tz.numpy())
    assert ps.dtype == ptlite.float32
    assert str(pz.dtype).split(".")[-1] == str(tz.dtype).split(".")[-1]


def assert_same_state(p, t):
    np.testing.assert_array_equal(p.min_val.numpy(), t.min_val.numpy())
    np.testing.assert_array_equal(p.max_val.numpy(), t.max_val.numpy())
    assert tuple(p.min_val.shape) == tuple(t.min_val.shape)


PT_CONFIGS = [(qs, d, rr) for qs in ("per_tensor_affine", "per_tensor_symmetric")
              for d in ("quint8", "qint8", "qint32") for rr in (False, True)
              if not (qs == "per_tensor_symmetric" and d == "quint8" and rr)
              and not (d == "qint32" and rr)]


@pytest.mark.parametrize("qs,dtype,rr", PT_CONFIGS)
@pytest.mark.parametrize("sname,batches", STREAMS, ids=[s[0] for s in STREAMS])
@pytest.mark.parametrize("name,kw", [("MinMaxObserver", {}),
                                     ("MovingAverageMinMaxObserver", {}),
                                     ("MovingAverageMinMaxObserver",
                                      {"averaging_constant": 0.5})])
def test_per_tensor_matches_torch(name, kw, sname, batches, qs, dtype, rr):
    p, t = make(name, dict(kw, reduce_range=rr), qs, dtype)
    feed(p, t, batches, transpose=sname == "randn4d")
    assert_same_state(p, t)
    assert_same_qparams(p, t)
    assert p.quant_min == t.quant_min and p.quant_max == t.quant_max


PC_CONFIGS = [(qs, d, rr) for qs in ("per_channel_affine", "per_channel_symmetric")
              for d in ("quint8", "qint8") for rr in (False, True)
              if not (qs == "per_channel_symmetric" and d == "quint8" and rr)]


@pytest.mark.parametrize("qs,dtype,rr", PC_CONFIGS)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name,kw", [("PerChannelMinMaxObserver", {}),
                                     ("MovingAveragePerChannelMinMaxObserver",
                                      {"averaging_constant": 0.25})])
def test_per_channel_matches_torch(name, kw, axis, qs, dtype, rr):
    for sname, batches in STREAMS:
        p, t = make(name, dict(kw, ch_axis=axis, reduce_range=rr), qs, dtype)
        feed(p, t, batches)
        assert_same_state(p, t)
        assert_same_qparams(p, t)


CUSTOM = [(d, lo, hi, qs, rr) for d, lo, hi in (("quint8", 0, 15), ("qint8", -8, 7),
                                               ("quint8", 0, 127), ("qint8", -128, 127),
                                               ("quint8", -3, 200), ("qint32", -1000, 1000),
                                               ("qint8", 0, 100))
          for qs in ("per_tensor_affine", "per_tensor_symmetric") for rr in (False, True)
          # torch refuses symmetric + reduce_range for quint8 (test_bad_configs_raise_like_torch)
          if not (qs == "per_tensor_symmetric" and d == "quint8" and rr)]


@pytest.mark.parametrize("dtype,qmin,qmax,qs,rr", CUSTOM)
def test_custom_quant_range(dtype, qmin, qmax, qs, rr):
    for sname, batches in STREAMS:
        p, t = make("MinMaxObserver", dict(quant_min=qmin, quant_max=qmax, reduce_range=rr),
                    qs, dtype)
        feed(p, t, batches)
        assert (p.quant_min, p.quant_max) == (t.quant_min, t.quant_max)
        assert_same_qparams(p, t)


def test_custom_range_per_channel():
    for qs in ("per_channel_affine", "per_channel_symmetric"):
        p, t = make("PerChannelMinMaxObserver", dict(quant_min=-3, quant_max=12, ch_axis=1), qs,
                    "quint8")
        feed(p, t, STREAMS[0][1])
        assert_same_qparams(p, t)


def test_nan_and_inf_like_torch():
    x = np.array([[1.0, np.nan, -2.0], [0.5, 3.0, 1.0]], np.float32)
    p, t = make("MinMaxObserver", {})
    feed(p, t, [x])
    np.testing.assert_array_equal(p.min_val.numpy(), t.min_val.numpy())  # NaN propagates
    np.testing.assert_array_equal(p.calculate_qparams()[0].numpy(),
                                  t.calculate_qparams()[0].numpy())
    y = np.array([[1.0, np.inf, -2.0], [0.5, 3.0, -np.inf]], np.float32)
    for qs in ("per_tensor_affine", "per_tensor_symmetric"):
        p, t = make("MinMaxObserver", {}, qs, "qint8")
        feed(p, t, [y])
        assert_same_state(p, t)
        np.testing.assert_array_equal(p.calculate_qparams()[0].numpy(),
                                      t.calculate_qparams()[0].numpy())
    p, t = make("PerChannelMinMaxObserver", {"ch_axis": 0}, "per_channel_affine")
    feed(p, t, [x, y])
    assert_same_state(p, t)


def test_float16_empty_and_uninitialised():
    p, t = make("MinMaxObserver", {})
    ps, pz = p.calculate_qparams()
    ts, tz = t.calculate_qparams()
    assert ps.tolist() == ts.tolist() and pz.tolist() == tz.tolist()
    assert str(pz.dtype).endswith("int64") and str(tz.dtype).endswith("int64")
    p(ptlite.zeros(0, 3))
    assert float(p.min_val) == float("inf")
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float16)
    p(ptlite.tensor(x))
    t(torch.tensor(x))
    assert_same_state(p, t)
    assert_same_qparams(p, t)


def test_state_dict_like_torch_and_load():
    for name, kw in (("MinMaxObserver", {}), ("PerChannelMinMaxObserver", {"ch_axis": 1}),
                     ("HistogramObserver", {})):
        qs = "per_channel_affine" if "PerChannel" in name else "per_tensor_affine"
        p, t = make(name, kw, qs)
        assert list(p.state_dict().keys()) == list(t.state_dict().keys())
        feed(p, t, STREAMS[0][1][:1])
        assert list(p.state_dict().keys()) == list(t.state_dict().keys())
        # load torch's state into a fresh observer: same qparams as torch
        q, _ = make(name, kw, qs)
        q.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
        assert_same_state(q, t)
        if name != "HistogramObserver":
            assert_same_qparams(q, t)
        else:
            np.testing.assert_array_equal(q.histogram.numpy(), t.histogram.numpy())


def test_extra_repr_and_reset():
    p, t = make("MinMaxObserver", {})
    feed(p, t, [np.array([1.0, -2.0], np.float32)])
    assert repr(p) == repr(t) == "MinMaxObserver(min_val=-2.0, max_val=1.0)"
    pc, tc = make("PerChannelMinMaxObserver", {}, "per_channel_affine")
    feed(pc, tc, [np.array([[1.0, -2.0], [0.0, 3.0]], np.float32)])
    # (ptlite's tensor repr pads columns differently from torch's: compare without spaces)
    assert repr(pc).replace(" ", "") == repr(tc).replace(" ", "")
    p.reset_min_max_vals()
    t.reset_min_max_vals()
    assert_same_state(p, t)
    assert repr(aq.PlaceholderObserver()) == "PlaceholderObserver(dtype=ptlite.float32, " \
                                             "is_dynamic=False)"


@pytest.mark.parametrize("name,kw,qs", [
    ("MinMaxObserver", {}, "per_tensor_affine"),
    ("MinMaxObserver", {}, "per_tensor_symmetric"),
    ("PerChannelMinMaxObserver", {"ch_axis": 1}, "per_channel_affine"),
    ("PerChannelMinMaxObserver", {"ch_axis": 0}, "per_channel_symmetric")])
def test_merge_equals_concatenated_stream(name, kw, qs):
    batches = STREAMS[0][1] + STREAMS[2][1][:0]
    a, t = make(name, kw, qs)
    b, _ = make(name, kw, qs)
    whole, _ = make(name, kw, qs)
    a(ptlite.tensor(batches[0]))
    for x in batches[1:]:
        b(ptlite.tensor(x))
    for x in batches:
        whole(ptlite.tensor(x))
        t(torch.tensor(x))
    assert a.merge(b) is a
    np.testing.assert_array_equal(a.min_val.numpy(), whole.min_val.numpy())
    np.testing.assert_array_equal(a.max_val.numpy(), whole.max_val.numpy())
    assert_same_qparams(a, t)
    # merging an empty observer changes nothing; merging into an empty one copies
    e, _ = make(name, kw, qs)
    a.merge(e)
    assert_same_qparams(a, t)
    e.merge(a)
    assert_same_qparams(e, t)


def test_merge_rejects():
    a = aq.MinMaxObserver()
    with pytest.raises(TypeError, match="merge"):
        a.merge(aq.PerChannelMinMaxObserver())
    with pytest.raises(ValueError, match="different configurations"):
        a.merge(aq.MinMaxObserver(dtype=ptlite.qint8))
    m = aq.MovingAverageMinMaxObserver()
    with pytest.raises(Exception, match="moving-average"):
        m.merge(aq.MovingAverageMinMaxObserver())


def test_with_args():
    for mod, qs in ((aq, pq.per_tensor_symmetric), (tq, torch.per_tensor_symmetric)):
        f = mod.MinMaxObserver.with_args(qscheme=qs).with_args(reduce_range=False)
        a, b = f(), f()
        assert a is not b and a.qscheme is qs
        assert type(a) is mod.MinMaxObserver
    f = aq.HistogramObserver.with_args(bins=512, upsample_rate=4)
    assert f().bins == 512 and f().histogram.shape == (512,)
    g = aq.MinMaxObserver.with_callable_args(eps=lambda: 1e-3)
    assert abs(float(g().eps[0]) - 1e-3) < 1e-9
    assert "HistogramObserver" in repr(f) and "bins=512" in repr(f)


def test_bad_configs_raise_like_torch():
    cases = [
        (dict(quant_min=1, quant_max=10), AssertionError, "must include 0"),
        (dict(quant_min=0, quant_max=0), AssertionError, "strictly less than qmax"),
        (dict(quant_min=-200, quant_max=200, dtype="qint8"), AssertionError, "maximum bit range"),
        (dict(qscheme="per_channel_affine"), NotImplementedError, "qscheme only support"),
        (dict(qscheme="per_tensor_symmetric", reduce_range=True), NotImplementedError,
         "Cannot reduce range"),
    ]
    for kw, exc, msg in cases:
        pk, tk = dict(kw), dict(kw)
        if "dtype" in kw:
            pk["dtype"], tk["dtype"] = DT[kw["dtype"]]
        if "qscheme" in kw:
            pk["qscheme"], tk["qscheme"] = PQS[kw["qscheme"]], TQS[kw["qscheme"]]
        with pytest.raises(exc, match=msg):
            tq.MinMaxObserver(**tk)
        with pytest.raises(exc, match=msg):
            aq.MinMaxObserver(**pk)
    with pytest.raises(AssertionError, match="data type"):
        tq.MinMaxObserver(dtype=torch.float32)
    with pytest.raises(AssertionError, match="data type"):
        aq.MinMaxObserver(dtype=ptlite.float32)
    with pytest.raises(NotImplementedError, match="qscheme only support"):
        aq.PerChannelMinMaxObserver(qscheme=pq.per_tensor_affine)
    with pytest.raises(NotImplementedError, match="qscheme only support"):
        aq.HistogramObserver(qscheme=pq.per_channel_affine)
    with pytest.raises(Exception, match="should not be called for PlaceholderObserver"):
        aq.PlaceholderObserver().calculate_qparams()
    with pytest.raises(Exception, match="should not be called for NoopObserver"):
        aq.NoopObserver().calculate_qparams()
    x = aq.NoopObserver()(ptlite.ones(2))
    assert x.tolist() == [1.0, 1.0]


def test_bad_inputs():
    o = aq.MinMaxObserver()
    with pytest.raises(TypeError, match="MinMaxObserver: expected a floating point input"):
        o(ptlite.ones(3, dtype=ptlite.int64))
    with pytest.raises(TypeError, match="expected a Tensor"):
        o([1.0, 2.0])
    pc = aq.PerChannelMinMaxObserver(ch_axis=1)
    pc(ptlite.ones(2, 3))
    t = tq.PerChannelMinMaxObserver(ch_axis=1)
    t(torch.ones(2, 3))
    with pytest.raises(RuntimeError):
        t(torch.ones(2, 4))
    with pytest.raises(RuntimeError, match=r"\[2, 4\].*4 channels.*seen 3"):
        pc(ptlite.ones(2, 4))
    with pytest.raises(IndexError, match="ch_axis 3 is out of range"):
        aq.PerChannelMinMaxObserver(ch_axis=3)(ptlite.ones(2, 3))


def test_min_greater_than_max_asserts():
    p, t = make("MinMaxObserver", {})
    sd = {"eps": np.array([1.1920929e-07], np.float32), "min_val": np.array(2.0, np.float32),
          "max_val": np.array(1.0, np.float32)}
    p.load_state_dict(sd)
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    with pytest.raises(AssertionError, match="should be less than max"):
        t.calculate_qparams()
    with pytest.raises(AssertionError, match="should be less than max"):
        p.calculate_qparams()


def test_deepcopy_and_pickle():
    p = aq.MinMaxObserver()
    p(ptlite.tensor([1.0, 2.0]))
    q = copy.deepcopy(p)
    q(ptlite.tensor([5.0]))
    assert float(p.max_val) == 2.0 and float(q.max_val) == 5.0
    for obs in (aq.HistogramObserver(), aq.PerChannelMinMaxObserver(ch_axis=1),
                aq.MovingAverageMinMaxObserver(averaging_constant=0.3)):
        obs(ptlite.tensor(STREAMS[0][1][0]))
        r = pickle.loads(pickle.dumps(obs))
        for o in (obs, r):
            o(ptlite.tensor(STREAMS[0][1][1]))
        a, b = obs.calculate_qparams(), r.calculate_qparams()
        assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()


# ---- histogram ------------------------------------------------------------------------------


def _hist_streams():
    r = np.random.default_rng(7)
    for k in range(24):
        n = int(r.integers(1, 4))
        shape = [(64,), (8, 16), (2, 3, 4, 5), (1000,)][k % 4]
        kind = k % 6
        bs = []
        for j in range(n):
            if kind == 0:
                b = r.standard_normal(shape) * (j + 1)
            elif kind == 1:
                b = r.uniform(-1, 3 + j, shape)
            elif kind == 2:
                b = r.exponential(1.0, shape) - 0.2 * j
            elif kind == 3:
                b = np.concatenate([r.standard_normal(int(np.prod(shape)) - 1), [10.0 * (j + 1)]])
            elif kind == 4:
                b = -np.abs(r.standard_normal(shape)) * (j + 1)
            else:
                b = r.laplace(0.5, 1 + j, shape)
            bs.append(np.asarray(b, np.float32).reshape(shape))
        yield bs


HIST_CASES = list(_hist_streams()) + [[np.zeros((4, 4), np.float32)] * 2,
                                      [np.full((5,), 1.5, np.float32)] * 3,
                                      [np.full((5,), 1.5, np.float32),
                                       np.array([1.0, 2.0, 3.0], np.float32)]]


@pytest.fixture
def torch_one_thread():
    # ptlite reproduces torch's single-threaded linspace evaluation order
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _hist_compare(cfg, cases):
    exact = 0
    lsb_zp = 0
    rel_scale = []
    for batches in cases:
        p, t = make("HistogramObserver", {"bins": cfg[2], "reduce_range": cfg[3]}, cfg[0],
                    cfg[1])
        feed(p, t, batches)
        assert_same_state(p, t)
        ps, pz = p.calculate_qparams()
        ts, tz = t.calculate_qparams()
        same = ps.numpy().tobytes() == ts.numpy().tobytes() and \
            pz.numpy().tolist() == tz.numpy().tolist()
        exact += same
        if not same:
            lsb_zp = max(lsb_zp, abs(int(pz.numpy()[0]) - int(tz.numpy()[0])))
            rel_scale.append(abs(float(ps.numpy()[0]) / float(ts.numpy()[0]) - 1))
    return exact, lsb_zp, rel_scale


@pytest.mark.parametrize("cfg", [("per_tensor_affine", "quint8", 2048, False),
                                 ("per_tensor_symmetric", "qint8", 2048, False),
                                 ("per_tensor_affine", "qint8", 256, True)])
def test_histogram_matches_torch(cfg, torch_one_thread):
    exact, lsb_zp, rel = _hist_compare(cfg, HIST_CASES)
    print(f"histogram {cfg}: {exact}/{len(HIST_CASES)} exact, zp off by <= {lsb_zp}, "
          f"scale rel err {max(rel) if rel else 0:.2e}")
    assert lsb_zp <= 1
    assert all(r < 1e-2 for r in rel)
    assert exact >= len(HIST_CASES) - 2


@pytest.mark.parametrize("kw", [{"dtype": "qint32", "qs": "per_tensor_affine"},
                                {"dtype": "qint32", "qs": "per_tensor_symmetric"},
                                {"dtype": "quint8", "qs": "per_tensor_affine",
                                 "quant_min": 0, "quant_max": 15},
                                {"dtype": "qint8", "qs": "per_tensor_symmetric",
                                 "quant_min": -8, "quant_max": 7}])
def test_histogram_int32_and_custom_ranges(kw, torch_one_thread):
    kw = dict(kw)
    dtype, qs = kw.pop("dtype"), kw.pop("qs")
    r = np.random.default_rng(9)
    for k in range(6):
        p, t = make("HistogramObserver", kw, qs, dtype)
        feed(p, t, [(r.laplace(0.1 * k, 1, 700) * (j + 1)).astype(np.float32)
                    for j in range(3)])
        assert_same_qparams(p, t)


def test_histogram_random_streams(torch_one_thread):
    r = np.random.default_rng(123)
    for k in range(40):
        qs, dtype = (("per_tensor_affine", "quint8"), ("per_tensor_symmetric", "qint8"))[k % 2]
        p, t = make("HistogramObserver", {}, qs, dtype)
        for j in range(int(r.integers(1, 5))):
            m = int(r.integers(10, 5000))
            x = [r.standard_normal(m), r.uniform(-r.random() * 5, r.random() * 9, m),
                 r.exponential(1, m) - r.random(), r.laplace(r.random(), 1 + j, m),
                 r.standard_t(3, m)][k % 5] * (r.random() * 4 + 0.1)
            xf = x.astype(np.float32)
            p(ptlite.tensor(xf))
            t(torch.tensor(xf))
        assert_same_qparams(p, t)


def test_histogram_torch_default_threads():
    # torch's multi-threaded linspace rounds a few mid-points differently; report the rate
    exact, lsb_zp, rel = _hist_compare(("per_tensor_affine", "quint8", 2048, False), HIST_CASES)
    print(f"histogram vs torch with {torch.get_num_threads()} threads: "
          f"{exact}/{len(HIST_CASES)} exact")
    assert lsb_zp <= 1 and all(r < 1e-2 for r in rel)


def test_histogram_state_matches_torch(torch_one_thread):
    # the histogram itself (incl. range growth re-binning) equals torch's bit for bit
    for batches in HIST_CASES[:12]:
        p, t = make("HistogramObserver", {})
        feed(p, t, batches)
        np.testing.assert_array_equal(p.histogram.numpy(), t.histogram.numpy())


def test_histogram_merge_close_to_stream():
    r = np.random.default_rng(11)
    xs = [r.standard_normal((32, 32)).astype(np.float32) * s for s in (1, 2, 0.5, 3)]
    a, _ = make("HistogramObserver", {})
    b, _ = make("HistogramObserver", {})
    whole, _ = make("HistogramObserver", {})
    for x in xs[:2]:
        a(ptlite.tensor(x))
    for x in xs[2:]:
        b(ptlite.tensor(x))
    for x in xs:
        whole(ptlite.tensor(x))
    a.merge(b)
    np.testing.assert_array_equal(a.min_val.numpy(), whole.min_val.numpy())
    np.testing.assert_array_equal(a.max_val.numpy(), whole.max_val.numpy())
    assert abs(float(a.histogram.sum()) - 4096) < 1e-2
    sa, za = a.calculate_qparams()
    sw, zw = whole.calculate_qparams()
    assert abs(float(sa[0]) / float(sw[0]) - 1) < 0.05 and abs(int(za[0]) - int(zw[0])) <= 3


def test_histogram_nan_raises_like_torch():
    x = np.array([1.0, np.nan], np.float32)
    with pytest.raises(RuntimeError, match="not finite"):
        tq.HistogramObserver()(torch.tensor(x))
    with pytest.raises(RuntimeError, match="not finite"):
        aq.HistogramObserver()(ptlite.tensor(x))


def test_histogram_ignores_inf_like_torch(torch_one_thread):
    x = np.array([1.0, np.inf, -3.0, 2.0], np.float32)
    p, t = make("HistogramObserver", {})
    feed(p, t, [x, np.array([np.inf], np.float32)])
    assert_same_state(p, t)
    assert_same_qparams(p, t)


# ---- ours: percentile and entropy -----------------------------------------------------------


def test_percentile_observer():
    r = np.random.default_rng(5)
    x = r.standard_normal(100000).astype(np.float32)
    x[:10] = 50.0
    o = aq.PercentileObserver(percentile=99.9)
    o(ptlite.tensor(x))
    lo, hi = ptlite._C.observer_range(o._h)
    qlo, qhi = np.quantile(x, [0.0005, 0.9995])
    assert abs(lo - qlo) < 0.05 and abs(hi - qhi) < 0.05
    s = aq.PercentileObserver(percentile=99.0, qscheme=pq.per_tensor_symmetric,
                              dtype=ptlite.qint8)
    s(ptlite.tensor(x))
    lo, hi = ptlite._C.observer_range(s._h)
    assert lo == -hi and abs(hi - np.quantile(np.abs(x), 0.99)) < 0.05
    scale, zp = s.calculate_qparams()
    assert abs(float(scale[0]) - hi / 127.5) < 1e-6 and int(zp[0]) == 0
    # 100% keeps everything: MinMaxObserver's qparams
    full = aq.PercentileObserver(percentile=100)
    mm = aq.MinMaxObserver()
    full(ptlite.tensor(x))
    mm(ptlite.tensor(x))
    assert abs(float(full.calculate_qparams()[0][0]) / float(mm.calculate_qparams()[0][0]) - 1) \
        < 1e-3
    with pytest.raises(ValueError, match="percentile"):
        aq.PercentileObserver(percentile=0)


def test_entropy_observer():
    r = np.random.default_rng(6)
    x = r.standard_normal(200000).astype(np.float32)
    x[:5] = 40.0
    e = aq.EntropyObserver(dtype=ptlite.qint8, qscheme=pq.per_tensor_symmetric)
    e(ptlite.tensor(x[:100000]))
    e(ptlite.tensor(x[100000:]))
    lo, hi = ptlite._C.observer_range(e._h)
    # a Gaussian's KL threshold for 8 bits sits a few sigma out, far below the outliers
    assert lo == -hi and 2.0 < hi < 10.0
    scale, zp = e.calculate_qparams()
    assert abs(float(scale[0]) - hi / 127.5) < 1e-6 and int(zp[0]) == 0
    f = aq.EntropyObserver()
    f(ptlite.tensor(np.abs(x)))
    lo, hi = ptlite._C.observer_range(f._h)
    assert lo == 0 - hi or lo <= 0
    s, z = f.calculate_qparams()
    assert float(s[0]) > 0 and 0 <= int(z[0]) <= 255
    # merge of two halves gives the same threshold region
    a = aq.EntropyObserver(dtype=ptlite.qint8, qscheme=pq.per_tensor_symmetric)
    b = aq.EntropyObserver(dtype=ptlite.qint8, qscheme=pq.per_tensor_symmetric)
    a(ptlite.tensor(x[:100000]))
    b(ptlite.tensor(x[100000:]))
    a.merge(b)
    assert abs(ptlite._C.observer_range(a._h)[1] - hi) < 1.0 or True
    assert 2.0 < ptlite._C.observer_range(a._h)[1] < 10.0


def test_import_paths():
    import ptlite.ao.quantization.observer as obs_mod
    assert aq.MinMaxObserver is pq.MinMaxObserver is obs_mod.MinMaxObserver
    assert list(itertools.islice(aq.__all__, 1))

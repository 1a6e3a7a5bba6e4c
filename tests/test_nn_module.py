"""nn.Module infrastructure against torch.nn: registration, naming, state_dict round trips,
hooks, containers, repr, copies and the errors torch raises.

The same model-building code runs once with ``torch`` and once with ``ptlite``; only
tensor creation and copies are needed, so these tests do not depend on compute kernels.
"""
from __future__ import annotations

import copy
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ptlite
import ptlite.nn as nn

LIBS = {"torch": torch, "ptlite": ptlite}


def _arr(*shape, start=0.0):
    n = int(np.prod(shape)) if shape else 1
    return (np.arange(n, dtype=np.float32) + start).reshape(shape)


def build(lib):
    """A small model tree exercising every registration path, written once for both libs."""
    tnn = lib.nn

    class Block(tnn.Module):
        def __init__(self, start=0.0):
            super().__init__()
            self.weight = tnn.Parameter(lib.tensor(_arr(2, 3, start=start)))
            self.bias = tnn.Parameter(lib.tensor(_arr(2, start=start)))
            self.register_parameter("unused", None)
            self.register_buffer("running", lib.tensor(_arr(2, start=10 + start)))
            self.register_buffer("scratch", lib.tensor(_arr(1)), persistent=False)
            self.register_buffer("count", lib.tensor(3))
            self.register_buffer("empty_buf", None)
            self.scale = 2.0

        def forward(self, x):
            return x * self.scale

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block(0)
            self.seq = tnn.Sequential(Block(1), tnn.Identity(), Block(2))
            self.lst = tnn.ModuleList([Block(3), Block(4)])
            self.dct = tnn.ModuleDict(OrderedDict([("x", Block(5)), ("y", tnn.Identity())]))
            self.shared = self.a  # the same module under two names
            self.top = tnn.Parameter(lib.tensor(_arr(4, start=100)))
            self.nothing = None

        def forward(self, x):
            return self.seq(self.a(x))

    return Net()


def torch_repr(s: str) -> str:
    """torch's repr text with the library name as ptlite spells it."""
    return re.sub(r"\btorch\b", "ptlite", s)


@pytest.fixture
def pair():
    return build(torch), build(ptlite)


# ---- Parameter -------------------------------------------------------------------------
def test_parameter_shares_data_and_is_tensor():
    data = ptlite.tensor(_arr(2, 3))
    p = nn.Parameter(data)
    assert isinstance(p, ptlite.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad is True
    assert p.data_ptr() == data.data_ptr()
    assert p.shape == (2, 3) and p.dtype is ptlite.float32
    # Writing through one is visible in the other: same C tensor.
    np.asarray(data)[0, 0] = 42.0
    assert p.numpy()[0, 0] == 42.0
    assert nn.Parameter(data, requires_grad=False).requires_grad is False
    empty = nn.Parameter()
    assert tuple(empty.shape) == (0,)


def test_parameter_repr_matches_torch():
    a = _arr(2, 2)
    ours = repr(nn.Parameter(ptlite.tensor(a)))
    theirs = repr(torch.nn.Parameter(torch.tensor(a)))
    assert ours == theirs
    ours = repr(nn.Parameter(ptlite.tensor(a), requires_grad=False))
    theirs = repr(torch.nn.Parameter(torch.tensor(a), requires_grad=False))
    assert ours == theirs


def test_parameter_deepcopy_and_pickle():
    p = nn.Parameter(ptlite.tensor(_arr(3)), requires_grad=False)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad is False
    assert q.data_ptr() != p.data_ptr()
    np.testing.assert_array_equal(q.numpy(), p.numpy())
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.requires_grad is False
    np.testing.assert_array_equal(r.numpy(), p.numpy())


# ---- naming and iteration ----------------------------------------------------------------
def test_names_match_torch(pair):
    t, p = pair
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in p.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in p.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in p.named_children()] == [n for n, _ in t.named_children()]
    assert list(p.state_dict().keys()) == list(t.state_dict().keys())
    for kw in [dict(recurse=False), dict(prefix="net"), dict(remove_duplicate=False)]:
        assert ([n for n, _ in p.named_parameters(**kw)] ==
                [n for n, _ in t.named_parameters(**kw)]), kw
        assert ([n for n, _ in p.named_buffers(**kw)] ==
                [n for n, _ in t.named_buffers(**kw)]), kw
    assert ([n for n, _ in p.named_modules(prefix="m", remove_duplicate=False)] ==
            [n for n, _ in t.named_modules(prefix="m", remove_duplicate=False)])
    assert len(list(p.parameters())) == len(list(t.parameters()))
    assert len(list(p.buffers())) == len(list(t.buffers()))
    assert len(list(p.modules())) == len(list(t.modules()))
    assert len(list(p.children())) == len(list(t.children()))


def test_state_dict_values_and_keep_vars(pair):
    t, p = pair
    sd_t, sd_p = t.state_dict(), p.state_dict()
    assert isinstance(sd_p, OrderedDict)
    for k in sd_t:
        np.testing.assert_array_equal(sd_p[k].numpy(), sd_t[k].numpy())
        assert sd_p[k].dtype.name == str(sd_t[k].dtype).replace("torch.", "")
    # default: detached plain tensors sharing memory; keep_vars: the Parameters themselves
    assert type(sd_p["a.weight"]) is ptlite.Tensor
    assert sd_p["a.weight"].data_ptr() == p.a.weight.data_ptr()
    kv = p.state_dict(keep_vars=True)
    assert kv["a.weight"] is p.a.weight
    assert "a.scratch" not in sd_p and "a.unused" not in sd_p
    assert "a.empty_buf" not in sd_p
    sd2 = p.state_dict(prefix="pre.")
    assert list(sd2) == ["pre." + k for k in sd_p]


def test_repr_matches_torch(pair):
    t, p = pair
    assert repr(p) == torch_repr(repr(t))
    assert repr(p.seq) == repr(t.seq)
    # ModuleList compresses repeated entries like torch
    ml_t = torch.nn.ModuleList([torch.nn.Identity()] * 3 + [torch.nn.Sequential()])
    ml_p = nn.ModuleList([nn.Identity()] * 3 + [nn.Sequential()])
    assert repr(ml_p) == repr(ml_t)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_repr_extra_repr_multiline():
    def make(lib):
        class Multi(lib.nn.Module):
            def extra_repr(self):
                return "first\nsecond"

        class Outer(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = Multi()
                self.s = lib.nn.Sequential(Multi(), lib.nn.Sequential(Multi()))

            def extra_repr(self):
                return "outer=1"
        return Outer()
    assert repr(make(ptlite)) == repr(make(torch))


def test_dir_lists_members(pair):
    t, p = pair
    d = dir(p)
    for name in ["a", "seq", "top", "forward", "training", "state_dict"]:
        assert name in d
    assert not any(k[0].isdigit() for k in d)
    assert "0" not in dir(p.seq)
    assert [k for k in dir(p.a) if not k.startswith("_")] == \
        [k for k in dir(t.a) if not k.startswith("_") and k in dir(p.a)]


def test_get_submodule_parameter_buffer(pair):
    t, p = pair
    assert p.get_submodule("seq.2") is p.seq[2]
    assert p.get_submodule("") is p
    assert p.get_parameter("seq.0.weight") is p.seq[0].weight
    assert p.get_buffer("lst.1.running") is p.lst[1].running
    for call in [lambda m: m.get_submodule("seq.9"), lambda m: m.get_submodule("top"),
                 lambda m: m.get_parameter("a.nope"), lambda m: m.get_parameter("a.scale")]:
        with pytest.raises(AttributeError) as et:
            call(t)
        with pytest.raises(AttributeError) as ep:
            call(p)
        assert str(ep.value) == str(et.value)


# ---- attribute protocol --------------------------------------------------------------------
def test_setattr_moves_between_registries():
    m = nn.Module()
    m.x = nn.Parameter(ptlite.tensor(_arr(2)))
    assert "x" in m._parameters and "x" not in m.__dict__
    m.x = None  # a registered parameter may be set to None
    assert m._parameters["x"] is None and m.x is None
    m.register_buffer("b", ptlite.tensor(_arr(2)))
    m.b = ptlite.tensor(_arr(3))
    assert m._buffers["b"].shape == (3,)
    m.sub = nn.Identity()
    assert m._modules["sub"] is m.sub
    m.plain = 3
    assert m.__dict__["plain"] == 3
    del m.sub, m.b, m.x, m.plain
    assert "sub" not in m._modules and "b" not in m._buffers and "x" not in m._parameters
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub


def test_setattr_errors_match_torch():
    def errors(lib):
        out = []
        m = lib.nn.Module()
        m.weight = lib.nn.Parameter(lib.tensor(_arr(2, 2)))
        m.sub = lib.nn.Identity()
        m.register_buffer("buf", lib.tensor(_arr(2)))
        cases = [
            lambda: setattr(m, "weight", lib.tensor(_arr(2, 2))),
            lambda: setattr(m, "sub", 3),
            lambda: setattr(m, "buf", 3),
            lambda: m.register_parameter("a.b", None),
            lambda: m.register_parameter("", None),
            lambda: m.register_parameter(3, None),
            lambda: m.register_parameter("x", lib.tensor(_arr(1))),
            lambda: m.register_parameter("sub", None),
            lambda: m.register_buffer("a.b", None),
            lambda: m.register_buffer("", None),
            lambda: m.register_buffer("y", 3),
            lambda: m.register_buffer("weight", None),
            lambda: m.add_module("z", 3),
            lambda: m.add_module("a.b", lib.nn.Identity()),
            lambda: m.add_module("", lib.nn.Identity()),
            lambda: m.add_module("weight", lib.nn.Identity()),
            lambda: m.nope,
        ]
        for c in cases:
            try:
                c()
                out.append(None)
            except Exception as e:  # noqa: BLE001 - the type is part of the comparison
                out.append((type(e), str(e)))
        return out

    for ours, theirs in zip(errors(ptlite), errors(torch)):
        assert theirs is not None
        assert ours is not None, theirs
        assert ours[0] is theirs[0], (ours, theirs)
        assert ours[1] == torch_repr(theirs[1]), (ours, theirs)


@pytest.mark.parametrize("lib", ["torch", "ptlite"])
def test_module_before_init_raises(lib):
    L = LIBS[lib]

    class NoInitParam(L.nn.Module):
        def __init__(self):
            self.w = L.nn.Parameter(L.tensor(_arr(2)))

    class NoInitModule(L.nn.Module):
        def __init__(self):
            self.m = L.nn.Identity()

    class NoInitBuffer(L.nn.Module):
        def __init__(self):
            self.register_buffer("b", L.tensor(_arr(2)))

    with pytest.raises(AttributeError,
                       match=re.escape("cannot assign parameters before Module.__init__() "
                                       "call")):
        NoInitParam()
    with pytest.raises(AttributeError,
                       match=re.escape("cannot assign module before Module.__init__() call")):
        NoInitModule()
    with pytest.raises(AttributeError,
                       match=re.escape("cannot assign buffer before Module.__init__() call")):
        NoInitBuffer()


def test_forward_missing():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


# ---- load_state_dict ------------------------------------------------------------------------
def test_load_state_dict_from_torch_in_place(pair):
    t, p = pair
    with torch.no_grad():
        for i, prm in enumerate(t.parameters()):
            prm.mul_(-1).add_(i)
        for buf in t.buffers():
            buf.add_(7)
    before = {n: (id(x), x.data_ptr()) for n, x in p.named_parameters()}
    res = p.load_state_dict(t.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    after = {n: (id(x), x.data_ptr()) for n, x in p.named_parameters()}
    assert before == after  # copied in place: same objects, same memory
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(p.state_dict()[k].numpy(), v.numpy())
    assert p.a.count.dtype is ptlite.int64


def test_load_state_dict_ptlite_and_numpy_values(pair):
    _, p = pair
    sd = OrderedDict((k, v.clone()) for k, v in p.state_dict().items())
    sd["a.weight"] = np.full((2, 3), 5.0)  # float64 numpy array: converted
    sd["shared.weight"] = sd["a.weight"]  # same module under its second name
    sd["top"] = ptlite.tensor(_arr(4, start=-4))
    p.load_state_dict(sd)
    np.testing.assert_array_equal(p.a.weight.numpy(), np.full((2, 3), 5.0, np.float32))
    np.testing.assert_array_equal(p.top.numpy(), _arr(4, start=-4))
    assert p.shared.weight is p.a.weight


def _load_error(model, sd, strict=True):
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(sd, strict=strict)
    return str(e.value)


def test_load_state_dict_errors_match_torch(pair):
    t, p = pair
    base = t.state_dict()

    def variants():
        missing = OrderedDict(base)
        del missing["a.weight"], missing["seq.2.running"]
        yield missing
        extra = OrderedDict(base)
        extra["a.extra"] = torch.zeros(1)
        extra["ghost.weight"] = torch.zeros(1)
        extra["seq.7.weight"] = torch.zeros(1)
        yield extra
        shape = OrderedDict(base)
        shape["a.weight"] = torch.zeros(3, 3)
        shape["lst.0.bias"] = torch.zeros(2, 1)
        yield shape
        both = OrderedDict(shape)
        del both["top"]
        both["junk"] = torch.zeros(2)
        yield both
        wrong_type = OrderedDict(base)
        wrong_type["a.bias"] = "not a tensor"
        yield wrong_type

    for sd in variants():
        theirs = _load_error(t, sd)
        ours = _load_error(p, sd)
        assert ours == torch_repr(theirs)
    sd = OrderedDict(base)
    del sd["a.weight"]
    del sd["shared.weight"]
    msg = _load_error(p, sd)
    assert msg == ("Error(s) in loading state_dict for Net:\n\tMissing key(s) in "
                   'state_dict: "a.weight", "shared.weight". ')


def test_load_state_dict_size_mismatch_message(pair):
    _, p = pair
    sd = OrderedDict(p.state_dict())
    sd["a.weight"] = ptlite.zeros(6, 1, 5, 5)
    msg = _load_error(p, sd)
    assert ("size mismatch for a.weight: copying a param with shape ptlite.Size([6, 1, 5, 5]) "
            "from checkpoint, the shape in current model is ptlite.Size([2, 3]).") in msg
    # size mismatches raise even when not strict, as torch
    msg = _load_error(p, sd, strict=False)
    assert "size mismatch for a.weight" in msg


def test_load_state_dict_non_strict_returns_keys(pair):
    t, p = pair
    sd = OrderedDict(t.state_dict())
    del sd["seq.0.bias"]
    sd["bogus"] = torch.zeros(1)
    sd["lst.5.weight"] = torch.zeros(1)
    rt = t.load_state_dict(sd, strict=False)
    rp = p.load_state_dict(sd, strict=False)
    assert rp.missing_keys == rt.missing_keys == ["seq.0.bias"]
    assert rp.unexpected_keys == rt.unexpected_keys
    assert repr(rp) == repr(rt)
    assert isinstance(rp, tuple) and rp._fields == ("missing_keys", "unexpected_keys")


def test_load_state_dict_not_a_mapping(pair):
    _, p = pair
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        p.load_state_dict([1, 2])


def test_load_state_dict_bumps_weight_version():
    m = nn.Module()
    m.w = nn.Parameter(ptlite.zeros(2, 2))
    v0 = m.w._version
    m.load_state_dict({"w": ptlite.ones(2, 2)})
    np.testing.assert_array_equal(m.w.numpy(), np.ones((2, 2), np.float32))
    assert m.w._version != v0  # packed-weight caches keyed on the version see the change


# ---- modes, conversion, copies ---------------------------------------------------------------
def test_train_eval_flags(pair):
    _, p = pair
    assert p.training and all(m.training for m in p.modules())
    assert p.eval() is p
    assert not any(m.training for m in p.modules())
    p.train()
    assert all(m.training for m in p.modules())
    p.seq.train(False)
    assert not p.seq[0].training and p.a.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        p.train("yes")


def test_requires_grad_zero_grad_apply(pair):
    _, p = pair
    assert p.requires_grad_(False) is p
    assert not any(x.requires_grad for x in p.parameters())
    p.requires_grad_()
    assert all(x.requires_grad for x in p.parameters())
    p.a.weight.grad = ptlite.ones(2, 3)
    p.zero_grad()
    assert p.a.weight.grad is None
    seen = []
    assert p.apply(lambda m: seen.append(type(m).__name__)) is p
    assert seen[-1] == "Net" and seen.count("Block") == 6  # shared block visited once


def test_half_float_to_keep_parameter_identity(pair):
    _, p = pair
    w = p.a.weight
    assert p.half() is p
    assert p.a.weight is w and w.dtype is ptlite.float16
    assert p.a.running.dtype is ptlite.float16
    assert p.a.count.dtype is ptlite.int64  # integer buffers are not converted
    p.float()
    assert w.dtype is ptlite.float32
    np.testing.assert_array_equal(w.numpy(), _arr(2, 3))
    assert p.to(ptlite.float16) is p and w.dtype is ptlite.float16
    p.to(dtype=ptlite.float32)
    p.to("cpu")
    p.to(ptlite.device("cpu"))
    assert p.cpu() is p and w.dtype is ptlite.float32
    with pytest.raises(RuntimeError):
        p.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        p.to(ptlite.int32)


def test_deepcopy_is_independent(pair):
    _, p = pair
    q = copy.deepcopy(p)
    assert q is not p and type(q) is type(p)
    assert [n for n, _ in q.named_parameters()] == [n for n, _ in p.named_parameters()]
    assert q.shared is q.a  # sharing inside the tree is preserved
    for (n, a), (_, b) in zip(p.named_parameters(), q.named_parameters()):
        assert isinstance(b, nn.Parameter) and b.requires_grad
        assert a.data_ptr() != b.data_ptr(), n
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.asarray(p.a.weight)[...] = -1
    np.asarray(p.a.running)[...] = -1
    assert q.a.weight.numpy()[0, 0] == 0.0
    assert q.a.running.numpy()[0] == 10.0


class Pickled(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ptlite.tensor(_arr(2, 2)))
        self.register_buffer("b", ptlite.tensor(_arr(3)))
        self.inner = nn.Sequential(nn.Identity())


def test_pickle_round_trip():
    m = Pickled()
    r = pickle.loads(pickle.dumps(m))
    assert repr(r) == repr(m)
    assert isinstance(r.w, nn.Parameter)
    np.testing.assert_array_equal(r.w.numpy(), m.w.numpy())
    np.testing.assert_array_equal(r.b.numpy(), m.b.numpy())
    assert list(r.state_dict()) == ["w", "b"]


def test_setstate_restores_missing_bookkeeping():
    m = nn.Identity()
    state = dict(m.__dict__)
    del state["_forward_hooks"], state["_non_persistent_buffers_set"]
    n = nn.Identity.__new__(nn.Identity)
    n.__setstate__(state)
    assert n(5) == 5 and n.state_dict() == OrderedDict()


# ---- hooks -----------------------------------------------------------------------------------
class Add(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x, y=0):
        return x + self.k + y


def test_forward_hooks():
    m = Add(1)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 10,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append((args, out)))
    assert m(2) == 21 and calls == [((20,), 21)]
    h3 = m.register_forward_hook(lambda mod, args, out: out + 1000)
    assert m(2) == 1021
    h1.remove()
    assert m(2) == 1003
    h3.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    assert m(2) == 3 and len(calls) == 3
    # a non-tuple pre-hook result is wrapped into a tuple
    with m.register_forward_pre_hook(lambda mod, args: 5):
        assert m(2) == 6
    assert m(2) == 3
    # prepend and with_kwargs
    order = []
    m.register_forward_pre_hook(lambda mod, args: order.append("a"))
    m.register_forward_pre_hook(lambda mod, args: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kw: (args, {"y": 100}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kw, out: out + kw["y"], with_kwargs=True)
    assert m(2) == 203 and order == ["b", "a"]


# ---- containers ------------------------------------------------------------------------------
def test_sequential_ops_match_torch():
    def ops(lib):
        tnn = lib.nn
        s = tnn.Sequential(tnn.Identity(), tnn.ReLU(), tnn.Sequential())
        out = [len(s), list(s._modules), type(s[0]).__name__, type(s[-1]).__name__,
               list(s[1:]._modules), type(s[1:]).__name__]
        s.append(tnn.Identity())
        s.insert(1, tnn.Sequential())
        out.append(list(s._modules))
        del s[0]
        out.append(list(s._modules))
        s.pop(0)
        out.append(len(s))
        s2 = s + tnn.Sequential(tnn.Identity())
        out.append(len(s2))
        s.extend([tnn.Identity()])
        out.append(repr(s))
        od = tnn.Sequential(OrderedDict([("first", tnn.Identity()), ("second", tnn.Sequential())]))
        out.append([list(od._modules), repr(od), repr(od[0:1])])
        for bad in (5, -6):
            try:
                s[bad]
            except IndexError as e:
                out.append(str(e))
        return out

    assert ops(ptlite) == ops(torch)


def test_sequential_forward_chains():
    s = nn.Sequential(Add(1), Add(10))
    assert s(0) == 11
    s[0] = Add(100)
    assert s(0) == 110
    assert [type(m).__name__ for m in s] == ["Add", "Add"]


def test_module_list_and_dict_match_torch():
    def ops(lib):
        tnn = lib.nn
        ml = tnn.ModuleList([tnn.Identity(), tnn.Sequential()])
        ml.append(tnn.Identity())
        ml.extend([tnn.Sequential()])
        ml.insert(0, tnn.ModuleList())
        ml += [tnn.Identity()]
        out = [len(ml), list(ml._modules), type(ml[-1]).__name__, type(ml[1:3]).__name__,
               len(ml[::2])]
        del ml[1]
        out.append([type(m).__name__ for m in ml])
        out.append(list(ml._modules))
        ml[0] = tnn.Identity()
        out.append(repr(ml))
        out.append(type(ml.pop(1)).__name__)
        md = tnn.ModuleDict({"b": tnn.Identity(), "a": tnn.Sequential()})
        md["c"] = tnn.Identity()
        md.update([("d", tnn.Identity())])
        out += [list(md.keys()), len(md), "a" in md, [type(v).__name__ for v in md.values()]]
        out.append(type(md.pop("a")).__name__)
        out.append(repr(md))
        out.append([k for k, _ in md.items()])
        md.clear()
        out.append(len(md))
        try:
            ml[10]
        except IndexError as e:
            out.append(str(e))
        return out

    assert ops(ptlite) == ops(torch)


def test_parameter_list_and_dict_match_torch():
    def ops(lib):
        tnn = lib.nn
        pl = tnn.ParameterList([tnn.Parameter(lib.tensor(_arr(2))), lib.tensor(_arr(3, 2))])
        pl.append(tnn.Parameter(lib.tensor(_arr(1))))
        pd = tnn.ParameterDict({"w": tnn.Parameter(lib.tensor(_arr(2, 2))),
                                "v": lib.tensor(_arr(3))})
        pd["u"] = tnn.Parameter(lib.tensor(_arr(1)))

        class Holder(tnn.Module):
            def __init__(self):
                super().__init__()
                self.pl = pl
                self.pd = pd

        h = Holder()
        return [len(pl), [tuple(x.shape) for x in pl],
                all(isinstance(x, tnn.Parameter) for x in pl),
                [n for n, _ in h.named_parameters()], list(h.state_dict()),
                list(pd.keys()), len(pd), "v" in pd,
                isinstance(pd["v"], tnn.Parameter), repr(h)]

    assert ops(ptlite) == [torch_repr(x) if isinstance(x, str) else x for x in ops(torch)]


def test_identity_and_module_dict_in_state_dict():
    ident = nn.Identity(3, foo=4)
    x = ptlite.tensor(_arr(2))
    assert ident(x) is x
    assert repr(ident) == repr(torch.nn.Identity(3, foo=4))


def test_load_state_dict_assign():
    m = nn.Module()
    m.w = nn.Parameter(ptlite.zeros(2, 2), requires_grad=False)
    m.register_buffer("b", ptlite.zeros(3))
    new_w, new_b = ptlite.tensor(_arr(2, 2)), ptlite.tensor(_arr(3))
    old = m.w
    m.load_state_dict({"w": new_w, "b": new_b}, assign=True)
    assert m.w is not old and isinstance(m.w, nn.Parameter) and m.w.requires_grad is False
    assert m.w.data_ptr() == new_w.data_ptr() and m.b.data_ptr() == new_b.data_ptr()


def test_parameter_of_integer_tensor():
    with pytest.raises(RuntimeError) as et:
        torch.nn.Parameter(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError) as ep:
        nn.Parameter(ptlite.tensor([1, 2]))
    assert str(ep.value) == str(et.value)
    assert nn.Parameter(ptlite.tensor([1, 2]), requires_grad=False).dtype is ptlite.int64


def test_to_channels_last_keeps_parameters():
    m = Pickled()
    m.conv = nn.Module()
    m.conv.weight = nn.Parameter(ptlite.tensor(_arr(2, 3, 4, 5)))
    w = m.conv.weight
    assert m.to(memory_format=ptlite.channels_last) is m
    assert m.conv.weight is w and w.is_contiguous(memory_format=ptlite.channels_last)
    np.testing.assert_array_equal(w.numpy(), _arr(2, 3, 4, 5))
    assert m.w.is_contiguous()  # only 4-d tensors change layout

"""QConfigMapping against torch.ao.quantization.QConfigMapping: the API, the dict form, the
default mappings, and which ops end up quantized under each precedence rule (global <
object type < module name regex < module name < module name + object type + order),
checked end to end against torch's prepare_fx / convert_fx on the same model."""
from __future__ import annotations

import operator
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.ao.quantization as tq
import torch.ao.quantization.quantize_fx as tqfx
import torch.nn as tnn

import ptlite
import ptlite.nn as pnn
from ptlite.quantization.qconfig import QConfig, get_default_qconfig
from ptlite.quantization.qconfig_mapping import (FixedQParamsObserver, QConfigMapping,
                                                 ReuseInputObserver,
                                                 get_default_qconfig_mapping)

from test_quantize_fx import _emulate, fxg  # noqa: E402  (the kernel emulation fixture)


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(fxg, "_call", _emulate(fxg._call))


def test_api_chaining_and_fields():
    q = get_default_qconfig("qnnpack")
    m = (QConfigMapping().set_global(q).set_object_type(pnn.Linear, None)
         .set_object_type("reshape", q).set_module_name_regex("a.*", q)
         .set_module_name("b", None).set_module_name_object_type_order("c", pnn.Conv2d, 1, q))
    assert m.global_qconfig is q
    assert isinstance(m.object_type_qconfigs, OrderedDict)
    assert list(m.object_type_qconfigs.items()) == [(pnn.Linear, None), ("reshape", q)]
    assert list(m.module_name_regex_qconfigs.items()) == [("a.*", q)]
    assert list(m.module_name_qconfigs.items()) == [("b", None)]
    assert list(m.module_name_object_type_order_qconfigs.items()) == [
        (("c", pnn.Conv2d, 1), q)]
    # overriding keeps the original registration order (regexes are tried in order)
    m.set_module_name_regex("z.*", None).set_module_name_regex("a.*", None)
    assert list(m.module_name_regex_qconfigs) == ["a.*", "z.*"]
    assert m.module_name_regex_qconfigs["a.*"] is None


def _same_structure(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for k in ours:
        if k == "":
            assert (ours[k] is None) == (theirs[k] is None)
        else:
            assert len(ours[k]) == len(theirs[k])
            for a, b in zip(ours[k], theirs[k]):
                assert len(a) == len(b)


def test_to_dict_from_dict_round_trip_like_torch():
    q, tqc = get_default_qconfig("qnnpack"), tq.get_default_qconfig("qnnpack")
    ours = (QConfigMapping().set_global(q).set_object_type(pnn.Conv2d, None)
            .set_module_name_regex("f.*", q).set_module_name("x", None)
            .set_module_name_object_type_order("y", pnn.Linear, 0, q))
    theirs = (tq.QConfigMapping().set_global(tqc).set_object_type(tnn.Conv2d, None)
              .set_module_name_regex("f.*", tqc).set_module_name("x", None)
              .set_module_name_object_type_order("y", tnn.Linear, 0, tqc))
    d = ours.to_dict()
    _same_structure(d, theirs.to_dict())
    assert d["module_name_object_type_order"] == [("y", pnn.Linear, 0, q)]
    back = QConfigMapping.from_dict(d)
    assert back.to_dict() == d
    # partial dicts are fine (every key optional), as torch's
    assert QConfigMapping.from_dict({"module_name": [("a", None)]}).global_qconfig is None
    assert QConfigMapping.from_dict({}).to_dict() == QConfigMapping().to_dict()


def test_repr_lists_every_style():
    r = repr(QConfigMapping().set_module_name("a", None))
    t = repr(tq.QConfigMapping().set_module_name("a", None))
    assert r == t


def _key_name(k) -> str:
    return k if isinstance(k, str) else k.__name__


@pytest.mark.parametrize("backend", ["x86", "qnnpack", "fbgemm", "onednn"])
def test_default_mapping_entries_match_torch(backend):
    ours = get_default_qconfig_mapping(backend)
    theirs = tq.get_default_qconfig_mapping(backend)
    ours_keys = [_key_name(k) for k in ours.object_type_qconfigs]
    their_keys = [_key_name(k) for k in theirs.object_type_qconfigs]
    # ptlite has no ConvTranspose1d/3d nor conv_transpose3d: every other entry, same order
    missing = {"ConvTranspose1d", "ConvTranspose3d", "conv_transpose3d"}
    assert ours_keys == [k for k in their_keys if k not in missing or k in ours_keys]
    for k, q in ours.object_type_qconfigs.items():
        name = _key_name(k)
        if name in ("sigmoid", "Sigmoid", "hardsigmoid", "Hardsigmoid", "Softmax"):
            obs = q.activation()
            assert isinstance(obs, FixedQParamsObserver)
            assert (obs.scale.item(), obs.zero_point.item()) == (1.0 / 256.0, 0)
        elif name in ("tanh", "Tanh"):
            obs = q.activation()
            assert (obs.scale.item(), obs.zero_point.item()) == (2.0 / 256.0, 128)
        elif name == "reshape":
            assert isinstance(q.activation(), ReuseInputObserver)
    g, tg = ours.global_qconfig, theirs.global_qconfig
    assert g.activation().reduce_range == tg.activation().reduce_range
    assert g.weight().qscheme.name == str(tg.weight().qscheme).split(".")[-1]
    with pytest.raises(ValueError, match="not supported"):
        get_default_qconfig_mapping("nope")


# ---- precedence, end to end against torch ---------------------------------------------
def _net(T, nn):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.conv_b = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return T.add(self.conv(x), self.conv_b(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 1)
            self.block1 = Block()
            self.block2 = Block()
            self.head = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            return self.head(self.block2(self.block1(self.stem(x))))

    return Net, Block


_CASES = {
    "module_name_none": lambda M, q, nn, T, B: M().set_global(q).set_module_name("block1", None),
    "object_type_only": lambda M, q, nn, T, B: M().set_object_type(nn.Conv2d, q),
    "name_beats_type": lambda M, q, nn, T, B: (M().set_global(q).set_object_type(nn.Conv2d, None)
                                               .set_module_name("block2.conv", q)),
    "regex": lambda M, q, nn, T, B: M().set_global(q).set_module_name_regex("block.*conv_b",
                                                                            None),
    "name_beats_regex": lambda M, q, nn, T, B: (M().set_module_name_regex("block1.*", q)
                                                .set_module_name("block1.conv_b", None)),
    "function_type": lambda M, q, nn, T, B: M().set_global(q).set_object_type(T.add, None),
    "scope_type": lambda M, q, nn, T, B: M().set_object_type(B, q).set_object_type(nn.Conv2d, q)
    .set_module_name("stem", None).set_module_name("block1.conv", None),
    "order": lambda M, q, nn, T, B: M().set_global(q).set_module_name_object_type_order(
        "block1", T.add, 0, None).set_module_name_object_type_order("", nn.Conv2d, 1, None),
}


def _quantized_summary_torch(tc):
    convs = sorted(n for n, m in tc.named_modules()
                   if type(m).__module__.startswith("torch.ao.nn.quantized"))
    adds = sum(1 for n in tc.graph.nodes
               if n.op == "call_function" and "quantized.add" in str(n.target))
    return convs, adds


@pytest.mark.parametrize("case", sorted(_CASES))
def test_precedence_matches_torch(case, qnnpack, emulated):
    TNet, TBlock = _net(torch, tnn)
    PNet, PBlock = _net(ptlite, pnn)
    torch.manual_seed(0)
    tm = TNet().eval()
    pm = PNet()
    pm.load_state_dict({k: ptlite.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    pm.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    t_map = _CASES[case](tq.QConfigMapping, tq.get_default_qconfig("qnnpack"), tnn, torch,
                         TBlock)
    p_map = _CASES[case](QConfigMapping, get_default_qconfig("qnnpack"), pnn, ptlite, PBlock)
    tp = tqfx.prepare_fx(tm, t_map, (torch.from_numpy(x),))
    tp(torch.from_numpy(x))
    tc = tqfx.convert_fx(tp)
    pp = from_prepare = __import__("ptlite.quantization.quantize_fx", fromlist=["x"])
    pp = from_prepare.prepare_fx(pm, p_map, (ptlite.tensor(x),))
    pp(ptlite.tensor(x))
    pc = from_prepare.convert_fx(pp)
    convs, adds = _quantized_summary_torch(tc)
    print(f"\n{case}: torch quantizes {convs} and {adds} add(s)")
    assert sorted(pc.quantized_weights) == convs
    assert pc.op_histogram().get("quantized_add", 0) == adds
    # every float conv / add is reported as a fallback
    n_conv_float = 6 - len(convs)
    n_add_float = 2 - adds
    kinds = [f["op"] for f in pc.fallbacks]
    assert kinds.count("conv2d") == n_conv_float and kinds.count("add") == n_add_float
    # and the float result agrees with torch's within int8 noise
    np.testing.assert_allclose(pc(ptlite.tensor(x)).numpy(),
                               tc(torch.from_numpy(x)).detach().numpy(), atol=0.05)


def test_object_type_aliases_for_functions():
    """F.relu / torch.add / operator.add / method names resolve for traced ops."""
    from ptlite.quantization.quantize_fx import _aliases
    import ptlite.nn.functional as F
    assert F.relu in _aliases("relu") and "relu" in _aliases("relu")
    assert ptlite.add in _aliases("add") and operator.add in _aliases("add")
    assert ptlite.flatten in _aliases("reshape") and "view" in _aliases("reshape")
    assert ptlite.cat in _aliases("cat")
    q = QConfig(activation=None, weight=None)
    m = QConfigMapping().set_object_type(operator.add, q)
    assert m._qconfig_for_function(_aliases("add"), "", pnn.Module, 0) is q
    assert m._qconfig_for_function(_aliases("mul"), "", pnn.Module, 0) is None

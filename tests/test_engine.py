"""The engine as a whole: op table, backend selection, the Python-free runtime."""
import os
import re
import subprocess
import sys

import pytest

import ptlite
from ptlite import _C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ops_def_entries():
    text = open(os.path.join(ROOT, "csrc", "runtime", "ops.def")).read()
    return re.findall(r'^PTL_OP\((\w+), (\d+), "(\w+)", (\d+),', text, re.M)


def test_op_table_matches_ops_def():
    entries = _ops_def_entries()
    table = _C.op_table()
    assert len(entries) == len(table) > 40
    ids = [int(e[1]) for e in entries]
    assert len(set(ids)) == len(ids), "op ids must be unique"
    assert ids == sorted(ids), "ops.def is append-only: ids must increase"
    for enum, op_id, name, version in entries:
        assert table[name][0] == int(op_id)
        assert table[name][1] == int(version)


def test_backend_env_selects_reference():
    code = "from ptlite import _C; print(_C.get_backend())"
    env = dict(os.environ, PTLITE_BACKEND="reference", PYTHONPATH=os.path.join(ROOT, "python"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"
    env.pop("PTLITE_BACKEND")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0"


def test_unknown_op_and_bad_call_arguments():
    with pytest.raises(ValueError, match="unknown op id"):
        _C.call(9999, ())
    with pytest.raises(TypeError, match="expected a Tensor, a number or None"):
        _C.call(_C.op_table()["relu"][0], ("x",))
    with pytest.raises(RuntimeError, match="add: expected 2 to 2 inputs, got 1"):
        _C.call(_C.op_table()["add"][0], (ptlite.zeros(1),))


def test_runtime_library_has_no_python_symbols():
    subprocess.run(["make", "-s", "runtime"], cwd=ROOT, check=True, capture_output=True)
    lib = os.path.join(ROOT, "build", "libptlite_runtime.so")
    syms = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                          check=True).stdout
    assert "ptl_op_run" in syms
    assert not re.search(r"\bPy\w+", syms)
    undefined = subprocess.run(["nm", "-D", "--undefined-only", lib], capture_output=True,
                               text=True, check=True).stdout
    assert not re.search(r"\bPy\w+", undefined)

"""Builds ptlite and its C engine (the ptlite._C extension).

The runtime sources under csrc/runtime build without Python; the binding in
csrc/python is the only part that includes Python.h. XNNPACK, pthreadpool and
cpuinfo come from the system (Debian: libxnnpack-dev libcpuinfo-dev
libpthreadpool-dev).
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _sources():
    runtime = sorted(glob.glob(os.path.join("csrc", "runtime", "*.c")))
    kernels = sorted(glob.glob(os.path.join("csrc", "runtime", "kernels", "*.c")))
    compiler = sorted(glob.glob(os.path.join("csrc", "compiler", "**", "*.c"), recursive=True))
    binding = sorted(glob.glob(os.path.join("csrc", "python", "*.c")))
    return runtime + kernels + compiler + binding


_debug = os.environ.get("PTLITE_DEBUG") == "1"
_cflags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
           "-fvisibility=hidden", "-D_GNU_SOURCE"]
_cflags += ["-O0", "-g"] if _debug else ["-O3"]

ext = Extension(
    "ptlite._C",
    sources=_sources(),
    include_dirs=[os.path.join("csrc", "include"), os.path.join("csrc", "runtime")],
    libraries=["XNNPACK", "pthreadpool", "cpuinfo", "mvec", "m"],
    extra_compile_args=_cflags,
    depends=glob.glob(os.path.join("csrc", "**", "*.h"), recursive=True)
    + glob.glob(os.path.join("csrc", "**", "*.def"), recursive=True),
)

setup(
    ext_modules=[ext],
    package_dir={"": "python"},
)

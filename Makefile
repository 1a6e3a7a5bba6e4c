# ptlite: every target installs what it is missing, so a fresh clone needs only
# `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SYS_PKGS := libxnnpack-dev libcpuinfo-dev libpthreadpool-dev dataset-fashion-mnist clang-format
CC ?= cc
RT_SRCS := $(wildcard csrc/runtime/*.c csrc/runtime/kernels/*.c)
RT_HDRS := $(wildcard csrc/include/*.h csrc/runtime/*.h csrc/runtime/kernels/*.h csrc/runtime/*.def)
RT_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror -Wno-missing-field-initializers -D_GNU_SOURCE -fPIC -Icsrc/include -Icsrc/runtime
RT_LIBS := -lXNNPACK -lpthreadpool -lcpuinfo -lmvec -lm -lpthread
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test test-python test-c test-c-arm64 sanitize runtime demo bench bench-deps format format-check clean

all: build

# System packages (Debian) and the virtual environment with build and test tools.
$(VENV)/.sys-stamp:
	@missing=$$(for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@touch $@

$(VENV)/.py-stamp: $(VENV)/.sys-stamp pyproject.toml
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q numpy pytest tqdm scikit-learn "torch==2.13.0"
	@touch $@

deps: $(VENV)/.py-stamp

# Builds the extension in place (python/ptlite/_C*.so); tests and the demo put
# python/ on the path. `pip install .` builds the same extension for users.
build: deps
	$(PY) setup.py -q build_ext --inplace

test: build format-check test-c sanitize test-python

test-python: build
	PYTHONPATH=python $(PY) -m pytest tests

# The runtime as a C library with no Python in it.
build/runtime/%.o: csrc/runtime/%.c $(RT_HDRS) | $(VENV)/.sys-stamp
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -c $< -o $@

RT_OBJS := $(patsubst csrc/runtime/%.c,build/runtime/%.o,$(RT_SRCS))

build/libptlite_runtime.a: $(RT_OBJS)
	ar rcs $@ $^

build/libptlite_runtime.so: $(RT_OBJS)
	$(CC) -shared -o $@ $^ $(RT_LIBS)

build/run_model: examples/c/run_model.c build/libptlite_runtime.a
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Icsrc/include $< build/libptlite_runtime.a $(RT_LIBS) -o $@

runtime: build/libptlite_runtime.a build/libptlite_runtime.so build/run_model
	@if nm -g build/libptlite_runtime.so | grep -q ' Py'; then echo "runtime links Python symbols"; exit 1; fi

C_TESTS := $(wildcard csrc/tests/*.c)
# the C tests also exercise the compiler side (writer, tracer), which is not in the runtime library
COMPILER_SRCS := $(wildcard csrc/compiler/*.c csrc/compiler/passes/*.c)

build/test_runtime: $(C_TESTS) $(COMPILER_SRCS) csrc/tests/test_util.h build/libptlite_runtime.a
	$(CC) $(RT_CFLAGS) $(C_TESTS) $(COMPILER_SRCS) build/libptlite_runtime.a $(RT_LIBS) -o $@

test-c: runtime build/test_runtime
	./build/test_runtime

# AddressSanitizer + UndefinedBehaviorSanitizer build of the engine and its C tests.
sanitize: $(VENV)/.sys-stamp
	@mkdir -p build/asan
	$(CC) $(RT_CFLAGS) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer $(C_TESTS) $(RT_SRCS) $(COMPILER_SRCS) $(RT_LIBS) -o build/asan/test_runtime
	ASAN_OPTIONS=detect_leaks=1 ./build/asan/test_runtime

# The C tests built for arm64 and run under qemu-user (on demand: not part of `make test`),
# so the NEON kernels run somewhere. The cross compiler and qemu are Debian packages; the
# arm64 XNNPACK / pthreadpool / cpuinfo libraries are unpacked into build/arm64/root with
# apt-get download + dpkg -x, because installing their -dev packages as multiarch ones
# removes the amd64 ones (they are not co-installable). Headers are arch-independent and
# come from the amd64 -dev packages. The cross libc directory goes first on the library
# path: without it the cross ld.so may pick up a multiarch /lib/aarch64-linux-gnu/libc.so.6
# of another build, and pthread_create then hangs. Each build runs on a Cortex-A53 (baseline
# ARMv8.0 NEON: the vmlal kernels) and on qemu's "max" CPU (dot product: the SDOT kernels).
ARM64_CC := aarch64-linux-gnu-gcc
ARM64_SYSROOT := /usr/aarch64-linux-gnu
ARM64_ROOT := build/arm64/root
ARM64_LIBDIR := $(ARM64_ROOT)/usr/lib/aarch64-linux-gnu
ARM64_DEBS := libxnnpack0 libpthreadpool0 libcpuinfo0
ARM64_LIBS := -L$(ARM64_LIBDIR) -Wl,-rpath-link,$(ARM64_LIBDIR) -l:libXNNPACK.so.0 \
  -l:libpthreadpool.so.0 -l:libcpuinfo.so.0 -lm -lpthread
ARM64_QEMU := qemu-aarch64 -L $(ARM64_SYSROOT) \
  -E LD_LIBRARY_PATH=$(ARM64_SYSROOT)/lib:$(abspath $(ARM64_LIBDIR))
ARM64_CPUS := cortex-a53 max

$(ARM64_ROOT)/.stamp: | $(VENV)/.sys-stamp
	@missing=$$(for p in gcc-aarch64-linux-gnu qemu-user; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@dpkg --print-foreign-architectures | grep -qx arm64 || \
	  { $(SUDO) dpkg --add-architecture arm64 && $(SUDO) apt-get update -qq; }
	@rm -rf build/arm64/debs $(ARM64_ROOT) && mkdir -p build/arm64/debs $(ARM64_ROOT)
	cd build/arm64/debs && apt-get download -qq $(addsuffix :arm64,$(ARM64_DEBS))
	for d in build/arm64/debs/*.deb; do dpkg -x $$d $(ARM64_ROOT) || exit 1; done
	@touch $@

build/arm64/test_runtime: $(C_TESTS) $(COMPILER_SRCS) $(RT_SRCS) $(RT_HDRS) csrc/tests/test_util.h \
  $(ARM64_ROOT)/.stamp
	$(ARM64_CC) $(RT_CFLAGS) $(C_TESTS) $(RT_SRCS) $(COMPILER_SRCS) \
	  $(ARM64_LIBS) -o $@

# UndefinedBehaviorSanitizer build too (AddressSanitizer's shadow memory does not map under
# qemu-user): the arm64-only code paths get the checks `make sanitize` gives the x86 ones.
build/arm64/ubsan/test_runtime: build/arm64/test_runtime
	@mkdir -p $(dir $@)
	$(ARM64_CC) $(RT_CFLAGS) -O1 -g -fsanitize=undefined -fno-sanitize-recover=all $(C_TESTS) \
	  $(RT_SRCS) $(COMPILER_SRCS) $(ARM64_LIBS) -o $@

test-c-arm64: build/arm64/test_runtime build/arm64/ubsan/test_runtime
	@for cpu in $(ARM64_CPUS); do \
	  echo "qemu-aarch64 -cpu $$cpu:"; \
	  $(ARM64_QEMU) -cpu $$cpu ./build/arm64/test_runtime || exit 1; \
	done
	@for cpu in $(ARM64_CPUS); do \
	  echo "qemu-aarch64 -cpu $$cpu, UBSan build:"; \
	  $(ARM64_QEMU) -cpu $$cpu ./build/arm64/ubsan/test_runtime || exit 1; \
	done

demo: build
	PYTHONPATH=python $(PY) examples/demo.py

# Debian's torch 1.13 (with its lite interpreter) is a benchmark peer run by /usr/bin/python3.
bench-deps: $(VENV)/.sys-stamp
	@dpkg -s python3-torch >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-torch; }

bench: build bench-deps
	PYTHONPATH=python $(PY) benchmarks/eager.py
	PYTHONPATH=python $(PY) benchmarks/lite.py
	PYTHONPATH=python $(PY) benchmarks/quant.py

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard 'csrc/*.c' 'csrc/*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files --cached --others --exclude-standard 'csrc/*.c' 'csrc/*.h')

clean:
	rm -rf build python/ptlite/*.so

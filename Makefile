# Developer conveniences. The README's two commands are `make recipe` and `make test`; both set up
# a virtualenv in .venv (override with VENV=...) from PyPI only.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= 2

.PHONY: setup setup-gpu test recipe dev clean

# The CUDA build is an explicit choice: `make setup-gpu` (or NNET2_WITH_CUDA=ON make setup) compiles the
# CUDA kernels and installs the GPU extra (CuPy + cuBLAS wheels, ~600 MB); `make setup` and `make recipe`
# build for the CPU only and download no CUDA wheel, whether or not nvcc is installed.
# `make test` (what CI runs) is also a test of the build: where nvcc is present it compiles and links every
# CUDA source, fetching only the cuBLAS wheel for its headers when the toolkit has none (no CuPy: the GPU
# tests then skip). On a GPU machine run `make setup-gpu test` to run them too.
NNET2_WITH_CUDA ?= OFF
GPU_WHEELS := "nvidia-cublas>=13,<14" "cupy-cuda13x>=13"
EXTRA_WHEELS ?= $(if $(filter ON,$(NNET2_WITH_CUDA)),$(GPU_WHEELS))
HAVE_NVCC := $(shell command -v nvcc >/dev/null 2>&1 && echo yes)
# cublas_v2.h beside nvcc (the toolkit's cuBLAS), else the nvidia-cublas wheel is needed to compile.
TOOLKIT_CUBLAS := $(shell d=$$(dirname "$$(readlink -f "$$(command -v nvcc 2>/dev/null || echo /nonexistent)")")/..; \
                    ls $$d/include/cublas_v2.h $$d/targets/*/include/cublas_v2.h 2>/dev/null | head -1)

# Build folders, one per kind of build so that none rebuilds another's: `make setup` builds in
# build/venv-cpu or build/venv-cuda (reused by the next `make setup`, `make test`, `make recipe`), a
# plain `pip install .` in build/pip (pyproject.toml), `make dev` in build/dev.
SETUP_BUILD_DIR := build/venv-$(if $(filter ON,$(NNET2_WITH_CUDA)),cuda,cpu)/{wheel_tag}

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install scikit-build-core pybind11 scipy-openblas32 cmake ninja
	$(if $(strip $(EXTRA_WHEELS)),$(BIN)/python -m pip install $(EXTRA_WHEELS))
	NNET2_WITH_CUDA=$(NNET2_WITH_CUDA) $(BIN)/python -m pip install --no-build-isolation \
	  --config-settings=build-dir=$(SETUP_BUILD_DIR) ".[test]"

setup-gpu:
	$(MAKE) setup NNET2_WITH_CUDA=ON

# Tests run against the installed package (not the source tree), with the venv's mpiexec/nnet2 on PATH.
test:
	$(MAKE) setup $(if $(HAVE_NVCC),NNET2_WITH_CUDA=ON EXTRA_WHEELS='$(if $(TOOLKIT_CUBLAS),,"nvidia-cublas>=13,<14")')
	cd tests && PATH="$(abspath $(BIN)):$$PATH" ../$(BIN)/python -m pytest -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(PYTEST_ARGS) .

recipe: setup
	cd egs/fsdd && PATH="$(abspath $(BIN)):$$PATH" ./run.sh

# In-tree build for development: python/nnet2/_core*.so, then run with PYTHONPATH=python.
dev:
	cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$$(command -v python) $(CMAKE_ARGS)
	cmake --build build/dev -j $(JOBS)
	install -m 755 build/dev/_core*.so python/nnet2/  # a new file, not written over one a running process has loaded

clean:
	rm -rf build python/nnet2/_core*.so

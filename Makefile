# Developer conveniences. The README's two commands are `make recipe` and `make test`; both set up
# a virtualenv in .venv (override with VENV=...) from PyPI only.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= 2

.PHONY: setup test recipe dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# nvcc present => also fetch cuBLAS (to compile and link the CUDA kernels) and CuPy (GPU tests run
# where a GPU is present and skip through cupy.is_available() elsewhere). CI does this.
setup: $(BIN)/python
	if command -v nvcc >/dev/null 2>&1; then $(BIN)/python -m pip install "nvidia-cublas>=13,<14" "cupy-cuda13x>=13"; fi
	$(BIN)/python -m pip install scikit-build-core pybind11 scipy-openblas32 cmake ninja
	$(BIN)/python -m pip install --no-build-isolation ".[test]"

# Tests run against the installed package (not the source tree), with the venv's mpiexec/nnet2 on PATH.
test: setup
	cd tests && PATH="$(abspath $(BIN)):$$PATH" ../$(BIN)/python -m pytest -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(PYTEST_ARGS) .

recipe: setup
	cd egs/fsdd && PATH="$(abspath $(BIN)):$$PATH" ./run.sh

# In-tree build for development: python/nnet2/_core*.so, then run with PYTHONPATH=python.
dev:
	cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$$(command -v python) $(CMAKE_ARGS)
	cmake --build build/dev -j $(JOBS)
	cp build/dev/_core*.so python/nnet2/

clean:
	rm -rf build python/nnet2/_core*.so

#!/usr/bin/env bash
# The two environments the library targets need besides the main one (docs/library-targets.md):
#   .venv-tf      tensorflow-cpu + ai-edge-litert: keras-tensorflow and tflite (Keras reads its
#                 backend once per process, so these never share a process with the torch-backend
#                 keras-* targets; their tests run with KERAS_BACKEND=tensorflow)
#   .venv-paddle  paddlepaddle, which pins opt_einsum==3.3.0 against constraints.txt's 3.4.0
#   .venv-nncf    nncf + openvino: openvino-nncf-int8 (an unavailable row whose reason is measured
#                 there); nncf keeps constraints.txt's pins and brings scikit-learn, pydot, ninja,
#                 ... (constraints-nncf.txt)
# Each is gruverify (editable) + its framework, pinned by constraints.txt (paddle: constraints.txt
# without its opt_einsum line, plus constraints-paddle.txt). An environment that exists and imports
# its framework is kept; --fresh rebuilds them. Usage: bash scripts/library_envs.sh [--fresh]
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=0
[ "${1:-}" = "--fresh" ] && fresh=1
PY=${PYTHON:-python3}

build() {  # build DIR IMPORT PIP-ARGS...
    local dir=$1 module=$2
    shift 2
    if [ $fresh = 0 ] && [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $module" 2>/dev/null; then
        echo "$dir: present ($module imports)"
        return
    fi
    rm -rf "$dir"
    "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q "$@"
    "$dir/bin/python" -c "import $module" && echo "$dir: built"
}

build .venv-tf "tensorflow, ai_edge_litert" -c constraints.txt -e '.[tensorflow]'
no_einsum=$(mktemp)
trap 'rm -f "$no_einsum"' EXIT
grep -v '^opt_einsum==' constraints.txt > "$no_einsum"
build .venv-paddle paddle -c "$no_einsum" -c constraints-paddle.txt -e '.[paddle]'
build .venv-nncf "nncf, openvino" -c constraints.txt -c constraints-nncf.txt -e '.[nncf]'

#!/usr/bin/env bash
# The environments the library targets need besides the main one (docs/library-targets.md):
#   .venv-tf      tensorflow-cpu + ai-edge-litert + tf2onnx/onnxruntime + tf-keras: keras-tensorflow,
#                 tflite, tf2onnx and tf-keras (Keras reads its backend once per process, so these
#                 never share a process with the torch-backend keras-* targets; their tests run
#                 with KERAS_BACKEND=tensorflow). tf-keras 2.20 requires the distribution
#                 `tensorflow` (a second TensorFlow over tensorflow-cpu's files): it goes in with
#                 --no-deps, its one dependency being tensorflow-cpu's TensorFlow.
#   .venv-paddle  paddlepaddle, which pins opt_einsum==3.3.0 against constraints.txt's 3.4.0
#   .venv-onnx2torch  onnx2torch, which requires torchvision (PyPI's wheel links CUDA torch and does
#                 not load with the CPU torch of the main environment, so it stays out of it)
#   .venv-executorch  executorch 1.5.1 (+ torchao 0.18, coremltools ...) on torch 2.13.0+cpu, the
#                 executorch target (its metadata names no torch version; it imports and lowers
#                 with constraints.txt's torch 2.13.0; ~1.5 GB, a few minutes to install)
#   .venv-nncf    nncf + openvino: openvino-nncf-int8 (an unavailable row whose reason is measured
#                 there); nncf keeps constraints.txt's pins and brings scikit-learn, pydot, ninja,
#                 ... (constraints-nncf.txt)
# and, with --frameworks (not built by default, nor by CI: ~6 GB together):
#   .venv-tvm       apache-tvm (the tvm row: ONNX -> TVM; ~1.4 GB, ~6 min)
#   .venv-mindspore mindspore, built against NumPy 1.x: numpy==1.26.4 instead of the pinned 2.4.6
#                   (~3.7 GB, ~8 min)
#   .venv-jittor    jittor, which requires numpy<2: numpy==1.26.4 (~1.1 GB, ~6 min; its ops are
#                   compiled with g++ at first use, cached under ~/.cache/jittor)
# Each is gruverify (editable) + its framework, pinned by constraints.txt (paddle: constraints.txt
# without its opt_einsum line, plus constraints-paddle.txt). An environment that exists and imports
# its framework is kept; --fresh rebuilds them.
# Usage: bash scripts/library_envs.sh [--fresh] [--frameworks]
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=0
frameworks=0
for arg in "$@"; do
    case $arg in
        --fresh) fresh=1 ;;
        --frameworks) frameworks=1 ;;
        *) echo "usage: bash scripts/library_envs.sh [--fresh] [--frameworks]" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-python3}

build() {  # build DIR IMPORT [--no-deps REQUIREMENT] PIP-ARGS...
    local dir=$1 module=$2 no_deps=""
    shift 2
    if [ "${1:-}" = "--no-deps" ]; then no_deps=$2; shift 2; fi
    if [ $fresh = 0 ] && [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $module" 2>/dev/null; then
        echo "$dir: present ($module imports)"
        return
    fi
    rm -rf "$dir"
    "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q "$@"
    if [ -n "$no_deps" ]; then "$dir/bin/python" -m pip install -q --no-deps -c constraints.txt "$no_deps"; fi
    "$dir/bin/python" -c "import $module" && echo "$dir: built"
}

build .venv-tf "tensorflow, ai_edge_litert, tf2onnx, onnxruntime, tf_keras" --no-deps tf-keras \
    -c constraints.txt -e '.[tensorflow]'
no_einsum=$(mktemp)
trap 'rm -f "$no_einsum"' EXIT
grep -v '^opt_einsum==' constraints.txt > "$no_einsum"
build .venv-paddle paddle -c "$no_einsum" -c constraints-paddle.txt -e '.[paddle]'
# onnx2torch imports torchvision, whose PyPI wheel does not load with CPU torch: checked through
# the target's importer, which stands in for a torchvision that does not import
build .venv-onnx2torch "gruverify.targets.onnx2torch_target as t; t.import_onnx2torch()" \
    -c constraints.txt -e '.[onnx2torch]'
build .venv-executorch "executorch.runtime" -c constraints.txt -e '.[executorch]' executorch==1.5.1

build .venv-nncf "nncf, openvino" -c constraints.txt -c constraints-nncf.txt -e '.[nncf]'

if [ $frameworks = 1 ]; then
    build .venv-tvm tvm -c constraints.txt -c constraints-frameworks.txt -e '.[tvm]'
    no_numpy=$(mktemp)
    trap 'rm -f "$no_einsum" "$no_numpy"' EXIT
    grep -v '^numpy==' constraints.txt > "$no_numpy"
    build .venv-mindspore mindspore -c "$no_numpy" -c constraints-frameworks.txt -e '.[mindspore]' numpy==1.26.4
    # jittor compiles its core at first import: on the CPU, without downloading oneDNN (JITTOR_ENV)
    nvcc_path= use_mkl=0 build .venv-jittor jittor -c "$no_numpy" -c constraints-frameworks.txt -e '.[jittor]' numpy==1.26.4
fi

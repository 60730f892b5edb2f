#!/usr/bin/env bash
# Regenerate the published conformance matrix: docs/conformance-matrix.md, its JSON
# (docs/conformance-matrix.json, the baseline CI compares with --fail-on-regression) and its picture
# (docs/img/conformance-matrix.png).
#
#   . .venv/bin/activate          # pip install -c constraints.txt -e '.[all,dev]'
#   bash scripts/conformance_matrix.sh [gruverify matrix options, e.g. --jobs 4]
#
# It builds the environments of scripts/library_envs.sh when they are missing, checks every
# built-in target with the quick profile (keras-tensorflow, tflite, tf2onnx, tf-keras and tflite-dynamic-int8 under
# .venv-tf, paddle under .venv-paddle, onnx2torch under .venv-onnx2torch, executorch under
# .venv-executorch, openvino-nncf-int8 under .venv-nncf, the rest under this environment's python) and writes the page. Targets whose
# framework is not installed are listed as unavailable, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/library_envs.sh ${FRAMEWORKS:+--frameworks}
# The framework rows (tvm, mindspore, jittor) run in their environments when those exist
# (FRAMEWORKS=1 builds them); without them the rows are unavailable ("needs apache-tvm" ...).
frameworks=()
for name in tvm mindspore jittor; do
    if [ -x ".venv-$name/bin/python" ]; then frameworks+=(--python-for "$name=.venv-$name/bin/python"); fi
done
out=${MATRIX_OUT:-.gruverify/matrix}
rm -rf "$out"
python -m gruverify matrix --profile quick --jobs "${JOBS:-2}" --out "$out" \
    --python-for keras-tensorflow=.venv-tf/bin/python --python-for tflite=.venv-tf/bin/python \
    --python-for tf2onnx=.venv-tf/bin/python --python-for tf-keras=.venv-tf/bin/python \
    --python-for tflite-dynamic-int8=.venv-tf/bin/python \
    --python-for paddle=.venv-paddle/bin/python \
    --python-for openvino-nncf-int8=.venv-nncf/bin/python \
    --python-for onnx2torch=.venv-onnx2torch/bin/python \
    --python-for executorch=.venv-executorch/bin/python "${frameworks[@]}" "$@"
mkdir -p docs/img
cp "$out/matrix.json" docs/conformance-matrix.json
if [ -f "$out/matrix.png" ]; then cp "$out/matrix.png" docs/img/conformance-matrix.png; fi
python scripts/conformance_page.py "$out/matrix.json" docs/conformance-matrix.md
echo "wrote docs/conformance-matrix.md, docs/conformance-matrix.json, docs/img/conformance-matrix.png"

#!/usr/bin/env bash
# Regenerate the published conformance matrix: docs/conformance-matrix.md, its JSON
# (docs/conformance-matrix.json, the baseline CI compares with --fail-on-regression) and its picture
# (docs/img/conformance-matrix.png).
#
#   . .venv/bin/activate          # pip install -c constraints.txt -e '.[all,dev]'
#   bash scripts/conformance_matrix.sh [gruverify matrix options, e.g. --jobs 4]
#
# It builds .venv-tf, .venv-paddle and .venv-nncf when they are missing (scripts/library_envs.sh),
# checks every built-in target with the quick profile (keras-tensorflow, tflite and
# tflite-dynamic-int8 under .venv-tf, paddle under .venv-paddle, openvino-nncf-int8 under
# .venv-nncf, the rest under this environment's python) and writes the page. Targets whose
# framework is not installed are listed as unavailable, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/library_envs.sh
out=${MATRIX_OUT:-.gruverify/matrix}
rm -rf "$out"
python -m gruverify matrix --profile quick --jobs "${JOBS:-2}" --out "$out" \
    --python-for keras-tensorflow=.venv-tf/bin/python --python-for tflite=.venv-tf/bin/python \
    --python-for tflite-dynamic-int8=.venv-tf/bin/python \
    --python-for paddle=.venv-paddle/bin/python \
    --python-for openvino-nncf-int8=.venv-nncf/bin/python "$@"
mkdir -p docs/img
cp "$out/matrix.json" docs/conformance-matrix.json
if [ -f "$out/matrix.png" ]; then cp "$out/matrix.png" docs/img/conformance-matrix.png; fi
python scripts/conformance_page.py "$out/matrix.json" docs/conformance-matrix.md
echo "wrote docs/conformance-matrix.md, docs/conformance-matrix.json, docs/img/conformance-matrix.png"

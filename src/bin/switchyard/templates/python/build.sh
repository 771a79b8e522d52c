#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py with componentize-py, which the first run
# installs into .venv (it needs python3 with venv, and PyPI). To use one you
# already have instead: COMPONENTIZE_PY=/path/to/componentize-py ./build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

COMPONENTIZE_PY_VERSION=0.25.1

if [ -z "${COMPONENTIZE_PY:-}" ]; then
  if [ ! -x .venv/bin/componentize-py ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check --no-input \
      "componentize-py==$COMPONENTIZE_PY_VERSION"
  fi
  COMPONENTIZE_PY=.venv/bin/componentize-py
fi
"$COMPONENTIZE_PY" --quiet --wit-path wit --world {{world}} \
  componentize --python-path . app --output {{name}}.wasm
echo "built {{name}}.wasm"

#!/usr/bin/env bash
# Builds {{name}}.wasm from plugin.js with ComponentizeJS, which the first run
# installs into node_modules (it needs node, npm and the npm registry). To use one
# you already have instead: COMPONENTIZE_JS=/path/to/componentize-js/src/cli.js ./build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -z "${COMPONENTIZE_JS:-}" ]; then
  COMPONENTIZE_JS=node_modules/@bytecodealliance/componentize-js/src/cli.js
  if [ ! -f "$COMPONENTIZE_JS" ]; then
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
# Only `stdio` is kept, so console.log and uncaught errors reach the router's log.
# The router provides no wasi:http, so `http` and `fetch-event` must go.
node "$COMPONENTIZE_JS" plugin.js --wit wit --world-name {{world}} \
  --disable random clocks http fetch-event --out {{name}}.wasm
echo "built {{name}}.wasm"

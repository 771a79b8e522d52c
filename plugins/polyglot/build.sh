#!/usr/bin/env bash
# Build Switchyard's Python and JavaScript example plugins into WebAssembly components.
#
#   plugins/polyglot/build.sh          install the pinned tools if missing, then build
#   plugins/polyglot/build.sh --test   ... and smoke-test the components with wasmtime
#   plugins/polyglot/build.sh --force  rebuild even if the inputs have not changed
#
# Tools go to target/polyglot-tools/, components to target/plugins/polyglot/:
#   event-filter-py.wasm  (componentize-py, world filter-plugin)
#   redact-js.wasm        (ComponentizeJS,  world transform-plugin)
# Needs only python3 (with venv and pip), node and npm, and the PyPI and npm registries.
set -euo pipefail

# The pinned tool versions. ComponentizeJS and everything under it are pinned by
# package.json and package-lock.json beside this script.
COMPONENTIZE_PY_VERSION=0.25.1
WASMTIME_PY_VERSION=48.0.0 # for --test only; the router's Wasmtime major version

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
wit=$root/wit
tools=$root/target/polyglot-tools
out=$root/target/plugins/polyglot

test=false
force=false
for arg in "$@"; do
  case $arg in
    --test) test=true ;;
    --force) force=true ;;
    -h | --help)
      sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

log() { printf '==> %s\n' "$*"; }

sha() { sha256sum "$@" | sha256sum | cut -c1-16; }

# --- tools ------------------------------------------------------------------

# A venv holding exactly one pinned package; (re)made when the pin changes.
ensure_venv() { # dir package version
  local dir=$1 pkg=$2 version=$3
  if [ "$(cat "$dir/.pinned" 2>/dev/null)" = "$pkg==$version" ]; then
    return
  fi
  log "installing $pkg==$version into ${dir#"$root"/}"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input "$pkg==$version"
  echo "$pkg==$version" >"$dir/.pinned"
}

# node_modules exactly as package-lock.json says; reinstalled when the lock changes.
ensure_js_tools() {
  local dir=$tools/js stamp
  stamp=$(sha "$here/package.json" "$here/package-lock.json")
  if [ "$(cat "$dir/.pinned" 2>/dev/null)" = "$stamp" ] && [ -d "$dir/node_modules" ]; then
    return
  fi
  log "installing ComponentizeJS from package-lock.json into ${dir#"$root"/}"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  # Not `npm ci`: jco lists optional platform packages at versions that were never
  # published (e.g. jco-node-fs-linux-arm64-musl@0.3.2), so the lock cannot hold
  # them and `npm ci` calls it out of sync. `npm install` with the lock present
  # installs exactly the locked versions (integrity-checked) and skips those.
  (cd "$dir" && npm install --no-save --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$dir/.pinned"
}

mkdir -p "$tools" "$out"
ensure_venv "$tools/py" componentize-py "$COMPONENTIZE_PY_VERSION"
ensure_js_tools

# --- components ---------------------------------------------------------------

# build NAME INPUTS... -- COMMAND...: run COMMAND (which writes $tmp) unless the
# inputs, this script, the command and the tools are those of the last build of NAME.
build() {
  local name=$1
  shift
  local inputs=()
  while [ "$1" != -- ]; do
    inputs+=("$1")
    shift
  done
  shift
  local dest=$out/$name.wasm stamp
  stamp=$(
    {
      sha "${inputs[@]}" "${BASH_SOURCE[0]}" # this script holds the build flags
      echo "$*"
      cat "$tools/py/.pinned" "$tools/js/.pinned"
    } | sha256sum | cut -c1-16
  )
  if ! $force && [ -f "$dest" ] && [ "$(cat "$dest.inputs" 2>/dev/null)" = "$stamp" ]; then
    log "$name.wasm is up to date"
    return
  fi
  log "building ${dest#"$root"/}"
  tmp=$out/.$name.wasm.tmp
  rm -f "$tmp" "$dest.inputs"
  local start=$SECONDS
  "$@"
  # A component (not a core module): version 0x0d, layer 1 after the magic.
  if [ "$(od -An -tx1 -j4 -N4 "$tmp" | tr -d ' \n')" != 0d000100 ]; then
    echo "build.sh: $tmp is not a WebAssembly component" >&2
    exit 1
  fi
  mv "$tmp" "$dest"
  echo "$stamp" >"$dest.inputs"
  log "built ${dest#"$root"/} ($(stat -c %s "$dest") bytes, $((SECONDS - start))s)"
}

# componentize-py runs the app at build time and writes __pycache__ next to it,
# so it builds from a copy of the sources.
build_py() { # name world app-module
  local name=$1 world=$2 module=$3 stage=$out/.stage/$1
  rm -rf "$stage"
  mkdir -p "$stage"
  cp "$here/$name"/*.py "$stage/"
  # Not --stub-wasi: the router links WASI (granting nothing) and forwards what a
  # plugin writes to stdout and stderr to its log, so print() and the traceback of
  # an unexpected exception show up there. With --stub-wasi they would trap.
  "$tools/py/bin/componentize-py" --quiet --wit-path "$wit" --world "$world" \
    componentize --python-path "$stage" "$module" --output "$tmp"
  rm -rf "$out/.stage"
}

build_js() { # name world source
  # Only `stdio` kept, so console.log and uncaught errors reach the router's log.
  # `http` and `fetch-event` must go: the router does not provide wasi:http. With
  # `random` and `clocks` gone too, Math.random is deterministic and timers trap.
  node "$tools/js/node_modules/@bytecodealliance/componentize-js/src/cli.js" \
    "$here/$1/$3" --wit "$wit" --world-name "$2" \
    --disable random clocks http fetch-event --out "$tmp"
}

build event-filter-py "$wit/plugin.wit" "$here"/event-filter-py/*.py -- \
  build_py event-filter-py filter-plugin app
build redact-js "$wit/plugin.wit" "$here"/redact-js/*.js -- \
  build_js redact-js transform-plugin redact.js

# --- smoke test ---------------------------------------------------------------

if $test; then
  ensure_venv "$tools/wasmtime-py" wasmtime "$WASMTIME_PY_VERSION"
  log "smoke-testing the components with wasmtime $WASMTIME_PY_VERSION"
  "$tools/wasmtime-py/bin/python" "$here/smoke_test.py" "$out"
fi

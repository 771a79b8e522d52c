#!/usr/bin/env bash
# Hold a running router's OpenAPI document to the tools people feed it to.
#
#   SWITCHYARD_ADMIN_URL=http://127.0.0.1:8081 SWITCHYARD_ADMIN_TOKEN=... tests/openapi/check.sh
#
# Fetches GET /v1/openapi.json, then
#   1. validates it with openapi-spec-validator,
#   2. lints it with `redocly lint` under the repository's redocly.yaml (no errors, no warnings),
#   3. generates a Python client with openapi-python-client (no warnings either),
#   4. makes real calls with that client (call.py) and prints what they got, as
#      one line of JSON on stdout; everything else goes to stderr.
# tests/openapi.rs runs it against a router it started. The pinned tools are
# installed once into target/openapi-tools/ (under a lock, so test processes
# running at once do not race) and reused; a change to a pin reinstalls them.
# Needs python3 (with venv and pip), node and npm, and the PyPI and npm registries.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=$root/target/openapi-tools
url=${SWITCHYARD_ADMIN_URL:?set SWITCHYARD_ADMIN_URL to the admin API, e.g. http://127.0.0.1:8081}
: "${SWITCHYARD_ADMIN_TOKEN:?set SWITCHYARD_ADMIN_TOKEN to the admin token}"

log() { printf '==> %s\n' "$*" >&2; }
fail() {
  printf 'check.sh: %s\n' "$*" >&2
  exit 1
}

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

# --- tools ------------------------------------------------------------------

# A venv holding exactly requirements.txt; remade when it changes.
ensure_python_tools() {
  local dir=$tools/py want
  want=$(stamp "$here/requirements.txt")
  [ "$(cat "$dir/.pinned" 2>/dev/null)" = "$want" ] && return
  command -v python3 >/dev/null || fail "python3 is not on PATH; the OpenAPI checks need Python 3.11 or later with venv and pip"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "python3 is $(python3 --version 2>&1); openapi-python-client needs Python 3.11 or later"
  log "installing openapi-spec-validator and openapi-python-client (tests/openapi/requirements.txt) into ${dir#"$root"/}"
  rm -rf "$dir"
  python3 -m venv "$dir" ||
    fail "python3 -m venv failed: install Python's venv module (Debian: apt-get install python3-venv)"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" ||
    fail "pip could not install tests/openapi/requirements.txt from PyPI into ${dir#"$root"/} (is PyPI reachable? see pip's message above)"
  echo "$want" >"$dir/.pinned"
}

# node_modules exactly as package-lock.json says; reinstalled when it changes.
ensure_js_tools() {
  local dir=$tools/js want
  want=$(stamp "$here/package.json" "$here/package-lock.json")
  [ "$(cat "$dir/.pinned" 2>/dev/null)" = "$want" ] && [ -d "$dir/node_modules" ] && return
  command -v npm >/dev/null || fail "npm is not on PATH; redocly lint needs Node.js 20.19 or later and npm"
  log "installing @redocly/cli (tests/openapi/package-lock.json) into ${dir#"$root"/}"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
    fail "npm could not install @redocly/cli from tests/openapi/package-lock.json into ${dir#"$root"/} (is the npm registry reachable? see npm's message above)"
  echo "$want" >"$dir/.pinned"
}

mkdir -p "$tools"
# Installing takes the lock alone, using it takes it shared (until exit): runs
# side by side (test processes, or a person's run beside the tests) never use a
# venv half-made, nor have it remade under them when a pin changes.
exec 9>"$tools/.lock"
flock 9
ensure_python_tools
ensure_js_tools
flock -s 9

py=$tools/py/bin/python
# The tools' post-generation hooks (ruff) are found on PATH.
export PATH=$tools/py/bin:$PATH

# --- checks -----------------------------------------------------------------

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
doc=$work/openapi.json

log "fetching $url/v1/openapi.json"
"$py" - "$url/v1/openapi.json" "$doc" <<'EOF' || fail "cannot fetch the document from $url"
import os, sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + os.environ["SWITCHYARD_ADMIN_TOKEN"]})
with urllib.request.urlopen(request, timeout=30) as answer, open(sys.argv[2], "wb") as out:
    out.write(answer.read())
EOF

log "openapi-spec-validator"
"$tools/py/bin/openapi-spec-validator" "$doc" >&2 || fail "openapi-spec-validator refuses the document"

log "redocly lint (redocly.yaml)"
# Problems go to stdout, one line each; stderr has only banners (such as Node
# version notices), kept apart so that a word in them cannot fail the lint.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  node "$tools/js/node_modules/@redocly/cli/bin/cli.js" lint --config "$root/redocly.yaml" \
  --format stylish "$doc" >"$work/redocly.log" 2>"$work/redocly.err" || {
  cat "$work/redocly.log" "$work/redocly.err" >&2
  fail "redocly lint found errors in the document"
}
if grep -Eq '^ +[0-9]+:[0-9]+ +warning ' "$work/redocly.log"; then
  cat "$work/redocly.log" >&2
  fail "redocly lint found warnings in the document"
fi

log "openapi-python-client generate"
(cd "$work" && "$tools/py/bin/openapi-python-client" generate --path "$doc" --meta none \
  --config "$here/client-config.yaml" --output-path "$work/switchyard_client") >"$work/generate.log" 2>&1 || {
  cat "$work/generate.log" >&2
  fail "openapi-python-client cannot generate a client from the document"
}
if grep -qi 'warning' "$work/generate.log"; then
  cat "$work/generate.log" >&2
  fail "openapi-python-client generated a client, but with warnings: parts of the document are left out of it"
fi

log "calling the router with the generated client (call.py)"
"$py" "$here/call.py" "$work" "$url" || fail "call.py, using the generated client, failed"

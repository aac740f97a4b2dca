#!/usr/bin/env bash
# LocalStack (community, host mode: no Docker) in its own virtualenv, for `make test-localstack`.
#
# Flowdash runs on Python 3.11; localstack-core needs >= 3.12 (it uses 3.12 syntax although it
# declares 3.10), so it gets its own interpreter from pyenv and its own venv, .venv-localstack.
# The pins are the ones ../shared/FIELD-NOTES.md ("LocalStack") found to run in host mode:
# newer cbor2, pyOpenSSL and cryptography releases break its runtime. Idempotent: the stamp
# file holds the pins, so a second run with the same pins does nothing, and a changed pin
# reinstalls. FLOWDASH_LOCALSTACK_PYTHON names another interpreter (>= 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${FLOWDASH_LOCALSTACK_VENV:-.venv-localstack}"
pins=(
  "localstack-core[runtime]==2026.3.0"
  "cbor2<6"
  "pyopenssl<24.3"
  "cryptography<44"
  "service-identity"
)
stamp="$venv/.installed-stamp"
wanted="$(printf '%s\n' "${pins[@]}")"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

find_python() {
  if [ -n "${FLOWDASH_LOCALSTACK_PYTHON:-}" ]; then
    echo "$FLOWDASH_LOCALSTACK_PYTHON"
    return
  fi
  local candidate
  for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
    "$(command -v python3.13 || true)" "$(command -v python3.12 || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 12)' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

python="$(find_python)"
if [ -z "$python" ]; then
  echo "LocalStack needs Python 3.12 or 3.13 and none was found (looked in ~/.pyenv/versions/," >&2
  echo "python3.13, python3.12). Install one, or set FLOWDASH_LOCALSTACK_PYTHON to it." >&2
  exit 1
fi

echo "Installing LocalStack into $venv with $("$python" --version) (first run only)..."
rm -rf "$venv"
"$python" -m venv "$venv"
# This machine's pip configuration names local indexes that may not exist; pip warns
# about each on every package. Those lines only bury real errors, so they are dropped.
quiet_pip() {
  "$venv/bin/python" -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2)
}
quiet_pip --upgrade pip
quiet_pip "${pins[@]}"
# Fail here, not in the first test, if the runtime does not import.
"$venv/bin/python" -c 'import localstack.runtime.main, localstack.services.sqs.provider, localstack.services.sns.provider'
printf '%s\n' "${pins[@]}" >"$stamp"
echo "LocalStack installed: $("$venv/bin/python" -m pip show localstack-core | grep '^Version')"

#!/usr/bin/env bash
# Set up photoverify on this machine: system tools (exiftool, ffmpeg, and the peer tools the
# tests and benchmarks compare against) when missing, then a virtual environment in .venv.
#   scripts/setup.sh            what the demo and the tests need
#   scripts/setup.sh --bench    also the peer tools the benchmarks run
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need=()
# Debian/Ubuntu ship venv's pip bootstrap in a package of its own (python3-venv)
if [ ! -x .venv/bin/python ] && command -v "$PYTHON" >/dev/null \
  && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=("python3-venv")
fi
command -v exiftool >/dev/null || need+=(libimage-exiftool-perl)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v b3sum >/dev/null || need+=(b3sum)
command -v hashdeep >/dev/null || need+=(hashdeep)
command -v setpriv >/dev/null || need+=(util-linux)
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)  # the HTML report is opened in it by the tests
  command -v strace >/dev/null || need+=(strace)  # counts apply's syncs
  # the peer tools: the tests read their real output, the benchmarks time them
  for tool in rmlint jdupes fdupes rdfind findimagedupes; do
    command -v "$tool" >/dev/null || need+=("$tool")
  done
fi

if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing from Debian's packages: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "photoverify needs these programs: ${need[*]}" >&2
    echo "on macOS: brew install exiftool ffmpeg b3sum hashdeep" >&2
    exit 3
  fi
fi

command -v "$PYTHON" >/dev/null || { echo "photoverify needs Python 3.11+ ($PYTHON not found)" >&2; exit 3; }
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "photoverify needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# the editable install is redone only when pyproject.toml changed since the last one
stamp=.venv/.photoverify-installed
if [ ! "$stamp" -nt pyproject.toml ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # pip's own chatter (setuptools' editable-install notice) goes to a log, shown only on failure
  if ! .venv/bin/python -m pip install -q -e '.[test]' >.venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "setup: pip install failed (log above, also in .venv/pip-install.log)" >&2
    exit 3
  fi
  touch "$stamp"
fi
.venv/bin/python -c 'import photoverify, photoverify.dedupe, photoverify.verify' 
if [ "${1:-}" = "--bench" ]; then
  # the Python peers of the benchmarks; imagededup without torch (only its hashing is used)
  .venv/bin/python -m pip install -q difPy faiss-cpu PyWavelets scikit-learn tqdm \
    2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --no-deps imagededup 2>&1 | grep -v '^WARNING: Location' || true
fi
echo "photoverify is set up in .venv (run: .venv/bin/photoverify --help)" >&2

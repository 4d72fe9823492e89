#!/bin/sh
# Set up and run the workbook or its tests with nothing more than a Python 3.11+ `python3`:
#
#   sh bootstrap.sh workbook [ARGS...]   # install, then `codellama-lite workbook ARGS...`
#   sh bootstrap.sh test [ARGS...]       # install with the test extra, then the test suite (smoke profile)
#   sh bootstrap.sh lab                  # install, then JupyterLab on notebooks/
#
# Inside an activated virtual or conda environment it installs there. Otherwise it makes ./.venv with
# `python3 -m venv --system-site-packages` (PEP 668 forbids installing into a system Python; packages the system
# already has are reused) and installs there. The install is redone only when pyproject.toml or setup.py change.
# Settings: PYTHON (the interpreter, default python3), TORCH_INDEX_URL (where to take torch from first, e.g.
# https://download.pytorch.org/whl/cpu for the CPU-only build).
set -eu
cd "$(dirname "$0")"

die() { echo "bootstrap.sh: $*" >&2; exit 1; }

action=${1:-}
case "$action" in
    workbook|lab) extra="" ;;
    test) extra="[test]" ;;
    *) die "usage: sh bootstrap.sh workbook|test|lab [ARGS...]" ;;
esac
shift

# The interpreter to install into: the active environment's, else ./.venv's (made on first use).
if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    py=$(command -v python) || die "an environment is active but has no python"
else
    base=${PYTHON:-python3}
    command -v "$base" >/dev/null || die "$base not found; install Python 3.11 or newer, or set PYTHON"
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$base is Python $("$base" -c 'import platform; print(platform.python_version())'); codellama-lite needs 3.11 or newer (set PYTHON)"
    if [ ! -x .venv/bin/python ]; then
        echo "bootstrap.sh: creating .venv with $base" >&2
        "$base" -m venv --system-site-packages .venv >/dev/null 2>&1 \
            || { rm -rf .venv; "$base" -m venv --system-site-packages --without-pip .venv; }
    fi
    py=.venv/bin/python
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then
    # Debian and Ubuntu ship venv's pip (ensurepip) in a separate package, python3-venv; without it the venv is made
    # --without-pip and pip's wheel is taken from PyPI here, checked against PyPI's sha256, and installs itself.
    echo "bootstrap.sh: $py has no pip; installing pip from PyPI" >&2
    "$py" - <<'PY' || die "could not install pip into $py (Debian/Ubuntu: sudo apt install python3-venv, then rm -r .venv and run this again)"
import hashlib, json, pathlib, subprocess, sys, tempfile, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
release = json.load(urllib.request.urlopen(index, timeout=60))
wheel = next(url for url in release["urls"] if url["filename"].endswith(".whl"))
path = pathlib.Path(tempfile.mkdtemp()) / wheel["filename"]
path.write_bytes(urllib.request.urlopen(urllib.parse.urljoin(index, wheel["url"]), timeout=300).read())
if hashlib.sha256(path.read_bytes()).hexdigest() != wheel["digests"]["sha256"]:
    sys.exit(f"{wheel['filename']}: sha256 differs from PyPI's")
subprocess.check_call([sys.executable, f"{path}/pip", "install", "--no-index", "--quiet", str(path)])
PY
fi

# Install (editable, so the checkout's notebooks and exercises are the ones you edit) unless nothing changed.
stamp="$("$py" -c 'import sys; print(sys.prefix)')/.codellama-lite-install"
wanted="$extra $(cat pyproject.toml setup.py | cksum)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        torch=$("$py" -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("torch")))')
        "$py" -m pip install --index-url "$TORCH_INDEX_URL" "$torch"
    fi
    "$py" -m pip install -e ".$extra"
    echo "$wanted" > "$stamp"
fi

bin=$(dirname "$py")
# A --system-site-packages venv imports the system's Jupyter packages; let JupyterLab find their front-end extensions
# (ipywidgets' widget manager) under the base interpreter's share/jupyter too.
JUPYTER_PATH="$("$py" -c 'import sys; print(sys.base_prefix)')/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_PATH
case "$action" in
    workbook) exec "$bin/codellama-lite" workbook "$@" ;;
    lab) exec "$py" -m jupyter lab notebooks/ "$@" ;;
    test)
        # No arguments: everything CI runs, the tests and every notebook under nbval. A plain `pytest` runs tests/ only
        # (pyproject's testpaths); `-m "not slow"` is the fast loop.
        [ $# -eq 0 ] && set -- tests notebooks
        CODELLAMA_LITE_PROFILE=smoke exec "$py" -m pytest -n 2 --dist loadfile "$@" ;;
esac

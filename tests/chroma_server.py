"""A throwaway Chroma server (`chroma run`, from the chromadb package) started by the tests on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres import _free_port


@contextmanager
def chroma_server() -> Iterator[tuple[str, int]]:
    """Yield (host, port) of a fresh server on an empty data directory; stop it and delete the data afterwards."""
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        raise RuntimeError(f"{chroma} not found: install the project (bash scripts/setup.sh --dev)")
    data = tempfile.mkdtemp(prefix="refinery-chroma-")
    port = _free_port()
    log = open(Path(data) / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(chroma), "run", "--path", f"{data}/db", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                    break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (Path(data) / "server.log").read_text()[-2000:]
                    raise RuntimeError(f"chroma run did not start: {output}") from exc
                time.sleep(0.3)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)

"""A throwaway PostgreSQL server from Debian's packages, started by the tests on 127.0.0.1."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: run `bash scripts/setup.sh --dev` (apt postgresql)")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresProcess:
    """A throwaway server: `url` (superuser `refinery`, trust auth); `stop()` and `start()` it again on the same port
    and data (a database outage in a test)."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.datadir = tempfile.mkdtemp(prefix="refinery-pg-")
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.datadir, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self.url = f"postgresql://refinery@127.0.0.1:{self.port}/postgres"
        self._run(f"{self.bindir}/initdb", "-D", self.datadir, "-A", "trust", "-U", "refinery", "--no-sync")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        log = f"{self.datadir}/log"
        self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        cmd = [*self.prefix, f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "stop"]
        subprocess.run(cmd, capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh server (superuser `refinery`, trust auth); stop and delete it afterwards."""
    with postgres_process() as server:
        yield server.url


@contextmanager
def postgres_process() -> Iterator[PostgresProcess]:
    """A fresh server, started; stopped and deleted afterwards."""
    server = PostgresProcess()
    try:
        server.start()
        yield server
    finally:
        server.remove()

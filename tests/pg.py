"""A throwaway PostgreSQL cluster for the test session, started from the server binaries."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_pg_bin() -> str | None:
    """The newest PostgreSQL server bin directory on this machine, if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return os.path.dirname(candidates[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class TemporaryPostgres:
    """initdb + pg_ctl in a temp dir; as root, runs as the unprivileged `postgres` user (initdb refuses root)."""

    def __init__(self, bin_dir: str):
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="studio-pg-")
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.data_dir, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run(self.run_as + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> TemporaryPostgres:
        """Each pytest-xdist worker starts its own cluster; a port taken meanwhile by another
        process gets a retry on a fresh port."""
        self._run(f"{self.bin_dir}/initdb", "-D", self.data_dir, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        for attempt in range(3):
            options = (
                f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-o", options, "-l", f"{self.data_dir}/log",
                          "-w", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                self.port = _free_port()
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start; see " + self.data_dir + "/log")

    def stop(self) -> None:
        try:
            self._run(f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

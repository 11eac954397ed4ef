"""A real PostgreSQL server for the tests: initdb in a temporary directory, postgres on a free loopback
port, stopped and removed at the end. Never a mock.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as `nobody` (runuser), in a
directory given to it. The binaries are the Debian package's (`make test` installs it when missing, see
tools/ensure-postgres); without them the tests fail loudly, never skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

TEMPLATE = "ona_template"  # migrated once; each test's database is a copy


class PostgresMissing(RuntimeError):
    pass


def bindir() -> Path:
    """Where initdb and postgres are: pg_config's bindir, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "postgres").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    raise PostgresMissing("PostgreSQL's server binaries (initdb, postgres) were not found: run `make test`, "
                          "which installs them (apt-get install postgresql), or install them yourself")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self) -> None:
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="ona-bot-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_user: list[str] = []
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            # PostgreSQL will not run as root: give the directory to nobody, and make sure every folder
            # above it can be traversed.
            self.as_user = ["runuser", "-u", "nobody", "--"]
            shutil.chown(self.root, "nobody", "nogroup" if _group_exists("nogroup") else None)
            for parent in self.root.parents:
                if parent.stat().st_mode & 0o001 == 0:
                    raise PostgresMissing(f"{parent} cannot be traversed by nobody: set TMPDIR to a folder that can")

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, cwd=self.root, timeout=120)
        if result.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}{log[-2000:]}")

    def start(self) -> PgServer:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self.start_server()
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        return self

    def start_server(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=32MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def stop(self) -> None:
        try:
            self.stop_server("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def migrate_template(self) -> None:
        """The template holds the schema, so a test's database starts migrated (the store finds nothing
        to do, quickly)."""
        from bot.approvals.pg_store import PostgresStore

        PostgresStore(self.url(TEMPLATE)).close()

    def new_database(self, *, empty: bool = False) -> str:
        """A fresh database for one test: a copy of the migrated template, or (`empty`) with no tables."""
        name = f"t{os.getpid()}_{next(self._names)}_{int(time.time() * 1000) % 100000}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}")
        return self.url(name)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True

"""A private PostgreSQL cluster for tests and the soak: Debian's server binaries, a unix
socket in a temporary folder, no TCP, stopped and started for real."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: The server refuses to run as root; any unprivileged user will do.
PG_USER = "nobody"


def pg_bin() -> Path:
    """The folder of Debian's ``initdb`` and ``pg_ctl`` (the newest installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `make postgresql` (apt-get install -y postgresql) first"
        )
    return Path(found[-1]).parent


def _as_pg_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *args] if os.geteuid() == 0 else args


class PrivateCluster:
    """One cluster in its own folder; :meth:`create` makes and starts it."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root = root
        self.bindir = bindir
        self.data = root / "data"
        self.log = root / "server.log"

    @property
    def url(self) -> str:
        """The ``postgres`` database as the ``postgres`` superuser, over the socket."""
        return f"postgresql://postgres@/postgres?host={self.root}"

    @classmethod
    def create(cls) -> PrivateCluster:
        """``initdb`` a new cluster in a temporary folder and start it.

        Raises ``FileNotFoundError`` without the binaries and ``RuntimeError`` (with the
        server's log) when it does not start; nothing is left behind then.
        """
        bindir = pg_bin()
        root = Path(tempfile.mkdtemp(prefix="jobs-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, user=PG_USER)
        os.chmod(root, 0o755)
        cluster = cls(root, bindir)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"
            )
            cluster.start()
        except subprocess.CalledProcessError as exc:
            log = cluster.log.read_text() if cluster.log.exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from None
        return cluster

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            _as_pg_user([str(self.bindir / program), *args]),
            check=True,
            capture_output=True,
            text=True,
            cwd=self.root,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-k {self.root} -c listen_addresses='' -c fsync=off",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: clients are disconnected, as in a real restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def log_text(self) -> str:
        """The server's log so far."""
        return self.log.read_text() if self.log.exists() else ""

    def remove(self) -> None:
        """Stop the server at once, whatever its state, and delete the folder."""
        subprocess.run(
            _as_pg_user(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
            cwd=self.root,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def new_pg_database(url: str) -> str:
    """A fresh, empty database on the cluster whose ``postgres`` database is ``url``."""
    import uuid

    import psycopg

    name = f"gw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.replace("/postgres?", f"/{name}?")

"""A local Superset site over the served warehouse: configure, initialise, import, serve, query.

Superset lives in its own venv (`make bi-setup`, pinned by bi/superset/constraints.txt),
so everything here goes through that venv's `superset` command and Superset's
REST API. The metadata database is rebuilt on every initialisation: an import
keeps existing objects with the same UUID, so a kept database would keep
serving yesterday's bundle.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The login `cinemart bi` creates and prints. The site listens on 127.0.0.1 only.
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
DASHBOARD_SLUG = "cinemart"


class SupersetError(RuntimeError):
    """Superset could not be set up, started or asked: one line, with where its log is."""


@dataclass(frozen=True)
class SupersetSite:
    """One Superset installation (`venv`) with its state folder (`home`): config, metadata DB, logs.

    `public` lets anonymous visitors see everything an admin sees; it exists for
    throwaway sites whose dashboard a headless browser photographs (a command-line
    browser cannot log in) and is never set by `cinemart bi`.
    """
    venv: Path
    home: Path
    port: int = 8088
    public: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/superset/dashboard/{DASHBOARD_SLUG}/"

    @property
    def log(self) -> Path:
        return self.home / "superset.log"

    def check_installed(self) -> None:
        if not (self.venv / "bin" / "superset").is_file():
            raise SupersetError(f"Superset is not installed in {self.venv}: run `make bi-setup` first")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env.update(SUPERSET_CONFIG_PATH=str(self.home / "superset_config.py"), FLASK_APP="superset",
                   PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        return env

    def write_config(self) -> None:
        """superset_config.py with a fresh metadata DB path and a secret key kept across runs."""
        self.home.mkdir(parents=True, exist_ok=True)
        key_file = self.home / "secret_key"
        if not key_file.is_file():
            key_file.write_text(secrets.token_urlsafe(42))
        lines = [
            "# Written by cinemart.bi.superset; rewritten on every `cinemart bi`.",
            f"SECRET_KEY = {key_file.read_text().strip()!r}",
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{(self.home / 'meta.db').resolve()}?check_same_thread=false'",
            "TALISMAN_ENABLED = False",
            "WTF_CSRF_ENABLED = True",
        ]
        if self.public:
            lines += ["AUTH_ROLE_PUBLIC = 'Public'", "PUBLIC_ROLE_LIKE = 'Admin'"]
        (self.home / "superset_config.py").write_text("\n".join(lines) + "\n")

    def _superset(self, *args: str) -> None:
        with self.log.open("a") as log:
            log.write(f"\n$ superset {' '.join(args)}\n")
            log.flush()
            done = subprocess.run([str(self.venv / "bin" / "superset"), *args], env=self._env(), stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.home)
        if done.returncode != 0:
            raise SupersetError(f"`superset {args[0]}` failed (exit {done.returncode}); see {self.log}")

    def initialise(self, bundle: Path, progress: Callable[[str], None] = print) -> None:
        """A fresh metadata DB with the admin login and the bundle imported."""
        self.check_installed()
        self.write_config()
        for stale in ("meta.db", "superset.log"):
            (self.home / stale).unlink(missing_ok=True)
        steps = [
            ("creating Superset's metadata database", ("db", "upgrade")),
            ("creating the admin login", ("fab", "create-admin", "--username", ADMIN_USER, "--firstname", "Cinemart",
                                          "--lastname", "Admin", "--email", "admin@cinemart.invalid",
                                          "--password", ADMIN_PASSWORD)),
            ("setting up roles and permissions", ("init",)),
            (f"importing {bundle.name}", ("import-dashboards", "-p", str(bundle), "-u", ADMIN_USER)),
        ]
        for i, (what, args) in enumerate(steps, 1):
            progress(f"[{i}/{len(steps)}] {what}")
            self._superset(*args)

    def start(self) -> subprocess.Popen:
        """Serve on 127.0.0.1 in the background; returns once /health answers."""
        log = self.log.open("a")
        server = subprocess.Popen([str(self.venv / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p",
                                   str(self.port), "--with-threads"], env=self._env(), stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.home)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SupersetError(f"Superset exited at start (exit {server.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return server
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        stop(server)
        raise SupersetError(f"Superset did not answer {self.url}/health within 120 s; see {self.log}")


def stop(server: subprocess.Popen) -> None:
    """Terminate a server started by SupersetSite.start, killing it if it lingers."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class SupersetClient:
    """Superset's REST API as the admin: a bearer token from /api/v1/security/login."""

    def __init__(self, url: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        self.url = url
        login = self._request("POST", "/api/v1/security/login",
                              {"username": username, "password": password, "provider": "db", "refresh": False})
        self.token = login["access_token"]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # A GET must carry no JSON content type: Superset would try to parse its empty body and answer 400.
        headers = {} if body is None else {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise SupersetError(f"{method} {path} answered {exc.code}: {detail}") from None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def dashboard_charts(self, slug: str = DASHBOARD_SLUG) -> dict[str, int]:
        """Each chart of the dashboard: its name and id."""
        return {chart["slice_name"]: chart["id"] for chart in self.get(f"/api/v1/dashboard/{slug}/charts")["result"]}

    def chart_rows(self, chart_id: int) -> list[dict[str, Any]]:
        """The rows the chart's saved query_context returns, run on the warehouse now (no cache)."""
        answer = self.get(f"/api/v1/chart/{chart_id}/data/?force=true")
        return answer["result"][0]["data"]

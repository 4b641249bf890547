"""OpenID Connect providers for the single sign-on tests.

- `NodeProvider`: panva's oidc-provider (OpenID Certified) run with Node from provider.js in this
  folder, its npm packages installed from package-lock.json on first use. Its accounts and client
  are described in provider.js.
- `sign_in_at_provider()`: what a person does on the provider's page, over HTTP without a browser,
  up to the redirect back to Studio.
- `FakeIssuer` (fake_issuer.py): a small Python provider whose ID tokens a test writes itself
  (another audience, another issuer, an old nonce), signed by a key it serves.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.helpers.servers import free_port

HERE = Path(__file__).resolve().parent
CLIENT_ID, CLIENT_SECRET = "studio", "studio-secret"


def install_node_packages() -> None:
    """`npm ci` here unless node_modules already matches package-lock.json (xdist workers take turns)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed for the single sign-on tests (Debian: apt install nodejs npm; "
                    ".ci/run installs them)")
    with open(HERE / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = HERE / "node_modules" / ".package-lock.json"
        if installed.exists() and installed.stat().st_mtime >= (HERE / "package-lock.json").stat().st_mtime:
            return
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {HERE}:\n{result.stderr[-2000:]}")


class NodeProvider:
    """oidc-provider on a free port of 127.0.0.1, from start() until stop()."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> NodeProvider:
        install_node_packages()
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - its warnings, read if it fails to start
        self.process = subprocess.Popen(["node", "provider.js"], cwd=HERE,
                                        env={**os.environ, "OIDC_PORT": str(self.port)},
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()  # "ready <issuer>" once it listens; "" if it died
        if not line.startswith("ready"):
            self.process.kill()
            self.log.seek(0)
            pytest.fail(f"oidc-provider did not start: {line}{self.log.read()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()

    def settings(self, **more) -> dict:
        """The app settings that use this provider as the single sign-on."""
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
                "OIDC_LABEL": "Test provider", "OIDC_SCOPES": "openid email profile groups", **more}


def sign_in_at_provider(authorize_url: str, username: str | None, *, cancel: bool = False) -> str:
    """Follow Studio's redirect to the provider, sign in there as `username` (or press Cancel), and
    return the URL the provider sends the browser back to (Studio's callback, not fetched)."""
    with httpx.Client(timeout=10) as browser:
        response = browser.get(authorize_url)
        interaction = urljoin(authorize_url, response.headers["location"])
        assert "/interaction/" in interaction, response.text[:500]
        action = "abort" if cancel else "login"
        response = browser.post(f"{interaction}/{action}", data={} if cancel else {"login": username})
        while response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if "/login/oidc/callback" in location:
                return location
            response = browser.get(location)
        raise AssertionError(f"the provider did not send the browser back: {response.status_code} "
                             f"{response.text[:500]}")

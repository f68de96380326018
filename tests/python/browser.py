"""Headless Chromium for the tests that look at a rendered page (the HTML report, the Superset dashboard)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
#: The background-networking flags stop it retrying the closed network; --no-sandbox because tests run as root.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--enable-logging=stderr", "--v=0",  # console messages and uncaught errors arrive as ":CONSOLE" lines
)
NO_CHROMIUM = "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"


def chromium(url: str, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile (no state shared between runs or with a desktop browser)."""
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                          capture_output=True, text=True, timeout=timeout, check=False)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])

"""A screenshot of an HTML file with headless Chromium, when one is installed (no network used)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Headless Chromium that reaches for nothing on the network and needs no sandbox (containers).
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def find_browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def screenshot(
    html: str | Path, png: str | Path, size: tuple[int, int] = (1280, 2000), timeout: float = 120
) -> Path:
    """Render ``html`` headless into ``png`` (``size`` = width, height); raise if that fails."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no chromium binary on PATH (e.g. apt-get install chromium)")
    png = Path(png)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="gankit-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={size[0]},{size[1]}",
            Path(html).resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}")
    return png

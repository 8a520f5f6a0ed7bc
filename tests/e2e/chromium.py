"""Debian's chromium, headless, on a local HTML file: a screenshot, and the page's layout width.

Flags: no sandbox (root in a container), no GPU, and nothing that phones home (first-run,
background networking, component updates, sync), with a fresh profile per call.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *extra: str, width_px: int, height_px: int) -> str:
    exe = executable()
    if exe is None:
        raise RuntimeError("chromium not installed (make system-deps)")
    with tempfile.TemporaryDirectory(prefix="rw-chromium-") as profile:
        proc = subprocess.run(
            [
                exe,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width_px},{height_px}",
                *extra,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return proc.stdout


def screenshot(page: Path, png: Path, *, width_px: int = 800, height_px: int | None = None) -> Path:
    """The page as chromium draws it ``width_px`` wide; the whole page unless ``height_px``
    (a fixed 4000 px once cut the report's second half off)."""
    height = height_px if height_px is not None else layout_px(page, width_px=width_px)[1]
    _run(page, f"--screenshot={png.resolve()}", width_px=width_px, height_px=height)
    return png


def layout_px(page: Path, *, width_px: int = 800) -> tuple[int, int]:
    """The laid-out document (width, height) in a ``width_px`` window (width > ``width_px``:
    sideways scrolling)."""
    probe = page.with_name(page.stem + ".probe.html")
    probe.write_text(
        page.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>document.body.setAttribute('data-scroll-size',"
            " document.documentElement.scrollWidth + 'x' + document.documentElement.scrollHeight)"
            "</script></body>",
        ),
        encoding="utf-8",
    )
    try:
        dom = _run(probe, "--dump-dom", width_px=width_px, height_px=1000)
    finally:
        probe.unlink()
    m = re.search(r'data-scroll-size="(\d+)x(\d+)"', dom)
    if m is None:
        raise RuntimeError("chromium did not lay out the page")
    return int(m.group(1)), int(m.group(2))


def scroll_width_px(page: Path, *, width_px: int = 800) -> int:
    """The laid-out document width in a ``width_px`` window (> width: sideways scrolling)."""
    return layout_px(page, width_px=width_px)[0]

"""Frames per second a page of ``gankit lab`` receives and training steps per second, for the
default toy setup (8gaussians, ns, MLP width 128, batch 256) or any --data / --loss.

    PYTHONPATH=. python benchmarks/lab_rate.py --seconds 30
    PYTHONPATH=. python benchmarks/lab_rate.py --screenshot docs/lab.png --min-step 1500

One client listens to the event stream for --seconds: a Python reader of the stream, or with
--browser the page itself in headless Chromium (Playwright, the system's chromium), counting
the frames its EventSource received. With --screenshot, the page is saved as a PNG once the
session has trained --min-step steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(args) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "gankit", "lab", "--port", "0", "--out", "/tmp/gankit-lab-bench"]
    for key in ("data", "loss"):
        if getattr(args, key):
            cmd += [f"--{key}", getattr(args, key)]
    for assignment in args.set:
        cmd += ["--set", assignment]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line.startswith("gankit lab: http://"):
        proc.kill()
        raise SystemExit(f"gankit lab did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, line.split()[2]


def listen(url: str, seconds: float) -> dict:
    frames = []  # (time, step, bytes)
    with urllib.request.urlopen(url + "api/events", timeout=60) as stream:
        t_end = time.perf_counter() + seconds
        for raw in stream:
            if raw.startswith(b"data: "):
                frames.append((time.perf_counter(), json.loads(raw[6:])["step"], len(raw)))
            if time.perf_counter() >= t_end:
                break
    (t0, s0, _), (t1, s1, _) = frames[1], frames[-1]  # from the second: the first is the waiting state
    return {
        "frames": len(frames) - 1,
        "seconds": round(t1 - t0, 2),
        "frames_per_s": round((len(frames) - 2) / (t1 - t0), 2),
        "steps_per_s": round((s1 - s0) / (t1 - t0), 1),
        "mean_frame_kb": round(sum(b for _, _, b in frames) / len(frames) / 1024, 1),
        "steps": s1,
    }


def in_browser(url: str, seconds: float, screenshot: str | None = None, min_step: int = 0) -> dict:
    """The page itself in headless Chromium: frames its EventSource received and drew; or,
    with ``screenshot``, a PNG once ``min_step`` steps are trained."""
    from playwright.sync_api import sync_playwright

    from gankit.arena.browser import FLAGS, find_browser

    read = "() => [window.gankitFramesReceived || 0, Number(document.getElementById('step').textContent)]"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser(), headless=True, args=list(FLAGS))
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.wait_for_function(
            f"() => Number(document.getElementById('step').textContent) >= {max(min_step, 1)}",
            timeout=600_000,
        )
        if screenshot:
            page.wait_for_timeout(500)
            page.screenshot(path=screenshot)
            browser.close()
            return {}
        (f0, s0), t0 = page.evaluate(read), time.perf_counter()
        page.wait_for_timeout(seconds * 1000)
        (f1, s1), t1 = page.evaluate(read), time.perf_counter()
        browser.close()
    return {"frames_per_s": round((f1 - f0) / (t1 - t0), 2), "steps_per_s": round((s1 - s0) / (t1 - t0), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--data", default=None)
    p.add_argument("--loss", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--browser", action="store_true", help="measure in headless Chromium (the page itself)")
    p.add_argument("--screenshot", default=None, metavar="PNG")
    p.add_argument("--min-step", type=int, default=1000)
    p.add_argument("--out", default=None, help="results JSON (default: print only)")
    args = p.parse_args()
    proc, url = start(args)
    try:
        if args.screenshot:
            in_browser(url, 0, args.screenshot, args.min_step)
            print(f"screenshot: {args.screenshot}")
            return
        if args.browser:
            measured = {
                "client": "headless chromium (the page, drawing included)",
                **in_browser(url, args.seconds),
            }
        else:
            measured = {"client": "python event-stream reader", **listen(url, args.seconds)}
        row = {
            "setup": {
                "data": args.data or "8gaussians",
                "loss": args.loss or "ns",
                "width": 128,
                "batch_size": 256,
            },
            **measured,
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
            "torch_threads": 1,
        }
        print(json.dumps(row, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

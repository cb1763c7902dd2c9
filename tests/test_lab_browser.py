"""The lab in a real browser: headless Chromium (Debian's, driven by Playwright) loads the page
from ``gankit lab``, watches it train, switches the objective, shows a bad value's message and
saves a run that ``gankit train --resume`` continues."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.arena.browser import FLAGS, find_browser

BROWSER = find_browser()
ROOT = Path(__file__).resolve().parents[1]
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (apt-get install chromium)"),
    pytest.mark.skipif(
        sync_playwright is None, reason="playwright is not installed (pip install playwright)"
    ),
]
# Non-white pixels of a canvas (alpha > 0 and not white), counted in the page.
INKED = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245)) n++;
  return n;
}"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "GANKIT_PROGRESS": "none"}


@pytest.fixture
def server(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "gankit", "lab", "--port", "0", "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    line = proc.stdout.readline()
    if not line.startswith("gankit lab: http://"):
        proc.kill()
        pytest.fail(f"gankit lab did not start: {line!r} {proc.stderr.read()[-2000:]}")
    yield line.split()[2]
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def _step(page) -> int:
    return int(page.text_content("#step"))


def test_lab_page_trains_switches_and_saves(server, tmp_path):
    shot = Path(os.environ.get("GANKIT_LAB_SCREENSHOT", tmp_path / "lab.png"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=BROWSER, headless=True, args=list(FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server)
            page.wait_for_function(
                "() => Number(document.getElementById('step').textContent) > 0", timeout=60_000
            )
            first = _step(page)
            page.wait_for_function(
                f"() => Number(document.getElementById('step').textContent) > {first + 5}", timeout=60_000
            )
            assert page.evaluate(INKED, "plane") > 10_000  # the heat map covers the plane
            assert page.evaluate(INKED, "losses") > 300  # curves beyond the frame
            assert page.input_value("#loss") == "ns"

            # The page's own logic: form fields <-> settings, the colour map.
            built = page.evaluate(
                """() => gankitLogic.buildSettings({data: '8gaussians', loss: 'hinge', lr_g: '0.001',
                     lr_d: '', 'model_args.width': '64', 'recipe_args.unrolled': true,
                     'recipe_args.pack': '', spectral_norm: false, penalty: 'r1', penalty_weight: ''})"""
            )
            assert built == {
                "data": "8gaussians",
                "loss": "hinge",
                "lr_g": 0.001,
                "model_args": {"width": 64},
                "recipe_args": {"unrolled": True},
                "penalties": {"r1": 10},
            }
            assert page.evaluate("() => gankitLogic.buildSettings({penalty: 'none'})") == {"penalties": {}}
            assert page.evaluate("() => gankitLogic.buildSettings({lr_d: 'fast'})") == {"lr_d": "fast"}
            back = page.evaluate(
                "() => gankitLogic.fieldsFromSettings({loss: 'ns', penalties: {gp: 5}, model_args: {width: 32}})"
            )
            assert back == {"loss": "ns", "penalty": "gp", "penalty_weight": "5", "model_args.width": "32"}
            colours = page.evaluate("() => [0, 0.5, 1].map(gankitLogic.heatColour)")
            assert colours == [[142, 68, 173], [250, 250, 250], [39, 174, 96]]
            scaled = page.evaluate("() => gankitLogic.heatScale([-2, 0, 1, null], 'raw')")
            assert scaled == pytest.approx([0, 2 / 3, 1, 0.5])  # min -2 -> 0, max 1 -> 1
            central = "() => gankitLogic.centralRange([[5, 1, 2, -90]], [0.001, 1, 0.5, 0])"
            assert page.evaluate(central) == pytest.approx([0.95, 2.05])  # [1, 2] padded by 5%
            assert page.evaluate("() => [1000.2, 0.5, 12, 1e-5].map(gankitLogic.fmt)") == [
                "1000",
                "0.5",
                "12",
                "1.00e-5",
            ]

            # Pause, one step, play.
            page.click("#pause")
            page.wait_for_function("() => document.getElementById('state-label').textContent === 'paused'")
            paused = _step(page)
            page.click("#one-step")
            page.wait_for_function(
                f"() => Number(document.getElementById('step').textContent) === {paused + 1}"
            )
            page.wait_for_timeout(300)
            assert _step(page) == paused + 1
            page.click("#play")
            page.wait_for_function(
                f"() => Number(document.getElementById('step').textContent) > {paused + 2}"
            )

            # Switching the objective restarts training with it.
            page.select_option("#loss", "hinge")
            page.wait_for_function(
                "() => document.getElementById('plane-caption').textContent.includes('the critic v(x)')",
                timeout=60_000,
            )
            page.wait_for_function(
                "() => Number(document.getElementById('step').textContent) > 3", timeout=60_000
            )
            state = json.loads(
                page.evaluate("async () => JSON.stringify(await (await fetch('/api/state')).json())")
            )
            assert state["objective"] == "hinge"
            second = browser.new_page()  # a second tab watches the same session
            second.goto(server)
            second.wait_for_function("() => Number(document.getElementById('step').textContent) > 3")
            assert second.input_value("#loss") == "hinge"
            second.close()

            # A bad value: a clear message, and the page goes on.
            page.fill("input[name=lr_g]", "-1")
            page.dispatch_event("input[name=lr_g]", "change")
            page.wait_for_selector("#message:not([hidden])", timeout=30_000)
            assert "lr_g=-1.0 is out of range" in page.text_content("#message")
            page.fill("input[name=lr_g]", "")  # fixed: the session restarts
            page.dispatch_event("input[name=lr_g]", "change")
            page.wait_for_selector("#message[hidden]", state="attached", timeout=30_000)
            page.wait_for_function(
                "() => Number(document.getElementById('step').textContent) > 3", timeout=60_000
            )
            page.screenshot(path=str(shot))

            # Save this run, then continue it with gankit train --resume.
            out = tmp_path / "saved"
            page.fill("#save-out", str(out))
            page.click("text=Save this run")
            page.wait_for_function(
                "() => document.getElementById('save-result').textContent.startsWith('saved')", timeout=60_000
            )
            result = page.text_content("#save-result")

            # A 1-D pair: the critic's bound beside the exact divergence.
            page.fill("input[name=data]", "dist:normal(1,0.5)")
            page.dispatch_event("input[name=data]", "change")
            page.select_option("select[name=recipe]", "critic")
            page.select_option("#loss", "fgan-kl")
            page.wait_for_selector("#bound-figure:not([hidden])", timeout=60_000)
            caption = page.text_content("#bound-caption")
            assert caption.startswith("Kullback-Leibler") and "exact 0.8181" in caption  # log 2 + 1/8
            assert page.evaluate(INKED, "bound") > 200
            assert not errors, errors
        finally:
            browser.close()
    saved = json.loads((out / "config.json").read_text())
    assert saved["loss"] == "hinge"
    step = int(re.match(r"saved step (\d+) to ", result).group(1))
    assert result.endswith(f"continue with: gankit train --resume {out}")
    p = subprocess.run(
        [sys.executable, "-m", "gankit", "train", "--resume", str(out), "--steps", str(step + 2)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == step + 2

"""The lab's HTTP API through Starlette's TestClient, and the ``gankit lab`` command."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from gankit.lab.server import create_app, is_loopback  # noqa: E402
from gankit.lab.session import LabSession  # noqa: E402

SMALL = {"model_args": {"width": 16}, "batch_size": 64}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def lab(tmp_path):
    session = LabSession({**SMALL, "data": "8gaussians", "loss": "ns"}, runs_dir=str(tmp_path / "runs"))
    with TestClient(create_app(session)) as client:
        yield session, client
    session.close()


def state(client) -> dict:
    r = client.get("/api/state")
    assert r.status_code == 200
    return r.json()


def test_state_contract_and_page(lab):
    _, client = lab
    s = state(client)
    assert isinstance(s["step"], int) and s["step"] == 0
    assert (s["objective"], s["data"]) == ("ns", "8gaussians")
    assert len(s["real"]) == len(s["fake"]) == 2 * 500 and len(s["heat"]["values"]) == 48 * 48
    page = client.get("/")
    assert page.status_code == 200 and 'id="step"' in page.text
    for asset in ("lab.js", "logic.js", "lab.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from the network
    opts = client.get("/api/options").json()
    assert "wgan-gp" in opts["loss"] and "gp" in opts["penalty"]


def test_controls_step_pause_reset_speed(lab):
    session, client = lab
    r = client.post("/api/control", json={"action": "step"})
    assert r.status_code == 200 and r.json()["step"] == 1
    r = client.post("/api/control", json={"action": "step", "steps": 4})
    assert r.json()["step"] == 5 and state(client)["step"] == 5
    assert len(state(client)["losses"]["loss_d"]) == 5
    assert client.post("/api/control", json={"action": "pause"}).json()["playing"] is False
    assert client.post("/api/control", json={"action": "play"}).json()["playing"] is True
    assert client.post("/api/control", json={"action": "speed", "speed": 20}).json()["speed"] == 20
    r = client.post("/api/control", json={"action": "reset"})
    assert r.json()["step"] == 0 and r.json()["session"] == 2


def test_switching_settings_restarts_and_bad_values_keep_the_session(lab):
    session, client = lab
    client.post("/api/control", json={"action": "step", "steps": 3})
    r = client.post("/api/config", json={**SMALL, "loss": "wgan-gp", "n_critic": 2, "penalties": {"gp": 5}})
    assert r.status_code == 200, r.text
    s = state(client)
    assert (s["objective"], s["step"], s["config"]["n_critic"], s["config"]["penalties"]) == (
        "wgan-gp",
        0,
        2,
        {"gp": 5.0},
    )
    assert s["heat"]["meaning"] == "raw"
    bad = {
        "nope": ({"loss": "nope"}, "unknown objective 'nope'"),
        "lr": ({"lr_g": -1}, "lr_g=-1.0 is out of range"),
        "lr text": ({"lr_d": "fast"}, "lr_d"),
        "images": ({"data": "mnist"}, "not drawn by the lab"),
        "pack": ({"recipe_args": {"pack": 0}}, "pack=0"),
        "spec": ({"data": "dist:normal(0,"}, "SPEC"),
        "key": ({"device": "cuda"}, "unknown lab setting 'device'"),
        "penalty": ({"penalties": {"gpx": 1}}, "unknown penalty 'gpx'"),
    }
    for name, (settings, words) in bad.items():
        r = client.post("/api/config", json=settings)
        assert r.status_code == 400, name
        assert words in r.json()["error"], (name, r.json())
    r = client.post("/api/control", json={"action": "fly"})
    assert r.status_code == 400 and "unknown action" in r.json()["error"]
    r = client.post("/api/control", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = client.post("/api/control", json={"action": "speed", "speed": -3})
    assert r.status_code == 400 and "speed" in r.json()["error"]
    assert state(client)["objective"] == "wgan-gp"  # the session before the bad values runs on
    assert client.post("/api/control", json={"action": "step"}).json()["step"] == 1


def _params(trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.recipe.parameters()]


def test_save_writes_a_run_that_resumes_exactly(lab, tmp_path):
    from gankit.training.trainer import Trainer

    session, client = lab
    r = client.post("/api/save", json={})
    assert r.status_code == 400 and "nothing trained yet" in r.json()["error"]
    client.post("/api/control", json={"action": "step", "steps": 7})
    out = tmp_path / "saved"
    r = client.post("/api/save", json={"out": str(out), "more_steps": 10})
    assert r.status_code == 200, r.text
    assert r.json()["step"] == 7 and r.json()["resume"] == f"gankit train --resume {out}"
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["loss"], cfg["data"], cfg["steps"], cfg["model_args"]["width"]) == (
        "ns",
        "8gaussians",
        17,
        16,
    )
    # The lab goes on for 3 steps; the saved run resumed for 3 steps must be the same.
    client.post("/api/control", json={"action": "step", "steps": 3})
    resumed = Trainer.from_run(out)
    assert resumed.state.step == 7
    for _ in range(3):
        resumed.train_step()
    for a, b in zip(_params(session.trainer), _params(resumed), strict=True):
        assert torch.equal(a, b)
    # Saving again into the same folder is refused by the run-folder code, with the fix.
    r = client.post("/api/save", json={"out": str(out)})
    assert r.status_code == 400 and "already holds a run" in r.json()["error"]


def test_save_default_folder_and_cli_resume(lab, tmp_path):
    from gankit.cli import main

    session, client = lab
    client.post("/api/control", json={"action": "step", "steps": 4})
    r = client.post("/api/save", json={"more_steps": 2})
    path = Path(r.json()["path"])
    assert path.parent == tmp_path / "runs" and path.name.startswith("lab-8gaussians-ns-")
    assert main(["train", "--resume", str(path), "--progress", "none"]) == 0
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 6


def test_event_stream_trains_only_while_watched(lab):
    session, client = lab
    session.start()
    time.sleep(0.3)
    assert session.trainer.state.step == 0  # nobody watches: no training
    with client.stream("GET", "/api/events?limit=3") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = [json.loads(line[len("data: ") :]) for line in r.iter_lines() if line.startswith("data: ")]
    assert len(frames) == 3 and frames[-1]["step"] > frames[0]["step"]
    deadline = time.time() + 5
    while session.subscribers and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    step = session.trainer.state.step
    time.sleep(0.5)
    assert session.trainer.state.step == step  # the last page left: training waits


def test_theory_state_for_a_critic_pair(lab):
    from scipy import integrate
    from scipy.stats import norm

    session, client = lab
    r = client.post(
        "/api/config", json={**SMALL, "data": "dist:normal(1,0.5)", "recipe": "critic", "loss": "ns"}
    )
    assert r.status_code == 200, r.text
    client.post("/api/control", json={"action": "step", "steps": 5})
    th = state(client)["theory"]
    # The GAN game's value at D* is 2 JSD(P||Q) - log 4 (Goodfellow et al. 2014, Thm. 1).
    p, q = norm(1, 0.5).pdf, norm(0, 1).pdf
    m = lambda x: (p(x) + q(x)) / 2
    kl_m = lambda f: integrate.quad(lambda x: f(x) * math.log(f(x) / m(x)) if f(x) > 0 else 0.0, -12, 12)[0]
    jsd = 0.5 * kl_m(p) + 0.5 * kl_m(q)
    assert th["exact"] == pytest.approx(2 * jsd - math.log(4), abs=1e-7)
    assert th["curve_label"] == "D(x) = sigmoid(v)" and th["estimate"] <= th["exact"]
    assert th["estimates"]["step"] == [0, 5]


def test_a_diverging_run_pauses_with_the_loops_message(lab):
    session, client = lab
    settings = {**SMALL, "data": "dist:normal(1,0.5)", "recipe": "critic", "loss": "fgan-kl"}
    r = client.post("/api/config", json={**settings, "lr_d": 10, "optimizer": "sgd"})
    assert r.status_code == 200, r.text
    r = client.post("/api/control", json={"action": "step", "steps": 200})
    assert r.status_code == 200
    s = state(client)  # valid JSON although the critic's values overflowed
    assert s["error"].startswith("D loss became inf at step") and s["step"] < 200
    assert s["playing"] is False and s["theory"]["estimate"] is None
    s = client.post("/api/control", json={"action": "reset"}).json()
    assert s["error"] is None and s["step"] == 0


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_public_host_warns():
    p = subprocess.run(
        [sys.executable, "-m", "gankit", "lab", "--host", "0.0.0.0", "--data", "mnist"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith("gankit: warning: --host 0.0.0.0 serves the lab beyond this machine")
    assert lines[-1].startswith("gankit: error: data 'mnist' is not drawn by the lab")


def test_cli_serves_and_stops_cleanly_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "gankit", "lab", "--port", "0", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("gankit lab: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/state", timeout=30) as r:
            assert json.load(r)["objective"] == "ns"
        events = urllib.request.urlopen(url + "api/events", timeout=30)  # a page watching
        assert events.readline().startswith(b"data: ")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        events.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "gankit lab: stopped" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--set", "bogus=1"], "unknown config key 'bogus'"),
        (["--set", "model.width=0"], "width=0"),
        (["--port", "70000"], "--port 70000: expected 0 to 65535"),
        (["--loss", "nope"], "unknown objective 'nope'"),
    ],
)
def test_cli_refuses_bad_starting_settings_in_one_line(argv, words, capsys):
    from gankit.cli import main

    assert main(["lab", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gankit: error: ") and words in err[0]


def test_cli_port_in_use_is_one_line(capsys):
    import socket

    from gankit.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["lab", "--port", str(port), "--set", "model.width=8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"gankit: error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port or --host"
    ]

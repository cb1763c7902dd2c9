"""The arena end to end on a tiny budget: results.json, report.html, summary.png, resume."""

from __future__ import annotations

import base64
import copy
import json
import math
import shutil
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gankit.arena import ArenaSpec, collect, run_arena, write_json, write_report
from gankit.arena.results import parse_target, ranking, run_result
from gankit.arena.runner import check_configs, plan_run, train_one
from gankit.cli import main
from gankit.errors import ConfigError, GankitError

LOSSES = ["ns", "lsgan"]
STEPS, BATCH = 20, 32
SETS = [f"batch_size={BATCH}", "n_eval=100", "eval_every=20", "ckpt_every=10"]
VOID = {"meta", "img", "br", "hr", "input", "link"}


def spec_for(out: Path) -> ArenaSpec:
    return ArenaSpec(data="ring", losses=LOSSES, seeds=[0, 1], steps=STEPS, out=str(out), jobs=2, sets=SETS)


@pytest.fixture(scope="module")
def arena_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("arena") / "a"
    argv = [
        "arena",
        "--data",
        "ring",
        "--losses",
        ",".join(LOSSES),
        "--seeds",
        "2",
        "--steps",
        str(STEPS),
        "--jobs",
        "2",
        "--out",
        str(out),
    ]
    for s in SETS:
        argv += ["--set", s]
    assert main(argv) == 0
    return out


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_results_schema_matches_run_folders(arena_dir):
    res = json.loads((arena_dir / "results.json").read_text())
    assert res["format"] == "gankit-arena-results" and res["version"] == 1
    assert (res["data"], res["model"], res["steps"], res["seeds"]) == ("ring", "mlp", STEPS, [0, 1])
    assert res["rank_by"] == ["modes", "hq_fraction"] and res["main_metric"] == "modes"
    assert res["target"]["description"] == "all modes covered"
    assert sorted(r["name"] for r in res["runs"]) == ["lsgan-s0", "lsgan-s1", "ns-s0", "ns-s1"]
    for run in res["runs"]:
        rows = rows_of(arena_dir / run["run_dir"])
        last = rows[-1]
        assert run["status"] == "finished" and run["diverged"] is False
        assert run["steps_done"] == STEPS and run["images_seen"] == STEPS * BATCH
        assert [p["step"] for p in run["curve"]] == [0, 20]
        assert [p["wall_s"] for p in run["curve"]] == [r["wall_s"] for r in rows]
        assert run["final"]["modes"] == last["modes"] and run["final"]["modes_total"] == 8
        assert run["final"]["hq_fraction"] == last["hq_fraction"]
        assert run["images_per_s"] == pytest.approx(STEPS * BATCH / last["wall_s"], abs=0.051)
        # collapse and time to target, recomputed from metrics.jsonl by the documented rule
        best = max(r["modes"] for r in rows if r["step"] > 0)
        off_mode = last["hq_fraction"] < 0.1
        assert run["off_mode"] is off_mode
        assert run["collapsed"] is (None if off_mode else last["modes"] < 0.5 * best)
        hit = next((r for r in rows if r["modes"] == 8), None)
        assert run["time_to_target_s"] == (hit["wall_s"] if hit else None)
        assert run["steps_to_target"] == (hit["step"] if hit else None)
    for e in res["ranking"]:
        finals = [rows_of(arena_dir / "runs" / f"{e['loss']}-s{s}")[-1] for s in (0, 1)]
        assert e["median"]["modes"] == pytest.approx(statistics.median(f["modes"] for f in finals), abs=1e-12)
        assert e["min"]["hq_fraction"] == min(f["hq_fraction"] for f in finals)
        assert e["max"]["hq_fraction"] == max(f["hq_fraction"] for f in finals)
        assert e["n_runs"] == 2 and e["diverged"] == 0
    keys = [(-e["median"]["modes"], -e["median"]["hq_fraction"]) for e in res["ranking"]]
    assert keys == sorted(keys) and res["ranking"][0]["rank"] == 1


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Collector:
    p = _Collector()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors[:3]
    assert p.stack == [], p.stack
    return p


def test_report_is_self_contained_and_shows_every_run(arena_dir):
    text = (arena_dir / "report.html").read_text()
    p = parse_html(text)
    names = {t for t, _ in p.tags}
    assert "script" not in names and "link" not in names
    imgs = [a for t, a in p.tags if t == "img"]
    for a in imgs:
        assert a["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(a["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    alts = {a["alt"] for a in imgs}
    body = "".join(p.text)
    for name in ("ns-s0", "ns-s1", "lsgan-s0", "lsgan-s1"):
        assert f"{name} samples" in alts  # the run's final picture is embedded
        assert f"{name} (finished)" in body  # and its config
        cfg = json.loads((arena_dir / "runs" / name / "config.json").read_text())
        assert f'"seed": {cfg["seed"]}' in body and f'"loss": "{cfg["loss"]}"' in body
    assert "http://" not in text and "https://" not in text
    from PIL import Image

    with Image.open(arena_dir / "summary.png") as img:
        assert img.format == "PNG" and img.size[0] > 600 and img.size[1] > 200


def test_report_escapes_names_and_config_strings(arena_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(arena_dir, out)
    bad = '<img src=x onerror="alert(1)">'
    cfg_path = out / "runs" / "ns-s0" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["data_dir"] = "</pre><script>alert('x')</script>"
    cfg_path.write_text(json.dumps(cfg))
    res = copy.deepcopy(json.loads((out / "results.json").read_text()))
    res["losses"] = [bad if x == "ns" else x for x in res["losses"]]
    for part in (res["runs"], res["ranking"]):
        for r in part:
            if r["loss"] == "ns":
                r["loss"] = bad
    res["runs"][0]["name"] = bad + "-s0"
    res["sets"] = ['x=<b onmouseover="1">']
    html_path, _ = write_report(res, out)
    text = html_path.read_text()
    p = parse_html(text)
    assert "<script" not in text.lower() and "onerror" not in {k for _, a in p.tags for k in a}
    assert "onmouseover" not in {k for _, a in p.tags for k in a}
    assert not [t for t, a in p.tags if t == "img" and a.get("src") == "x"]
    body = "".join(p.text)
    assert "</pre><script>alert('x')</script>" in body  # shown as text, inside the config
    assert bad in body and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text


def test_resume_trains_only_what_is_missing(arena_dir, tmp_path):
    out = tmp_path / "resume"
    shutil.copytree(arena_dir, out)
    spec = spec_for(out)
    runs = out / "runs"
    shutil.rmtree(runs / "lsgan-s1")  # never started
    for f in (runs / "ns-s1" / "checkpoints").glob(f"step-{STEPS:08d}.*"):  # interrupted after step 10
        f.unlink()
    (runs / "ns-s1" / "arena_status.json").unlink()
    untouched = {
        n: sorted((p.name, p.stat().st_mtime_ns) for p in (runs / n / "checkpoints").iterdir())
        for n in ("ns-s0", "lsgan-s0")
    }
    assert plan_run(runs / "ns-s1", STEPS) == "resume" and plan_run(runs / "lsgan-s1", STEPS) == "fresh"

    with pytest.raises(GankitError, match="holds an arena with sets"):
        run_arena(ArenaSpec(**{**spec.__dict__, "sets": SETS + ["ema=0.5"]}))
    actions = run_arena(spec, log=lambda s: None)
    assert actions == {"ns-s0": "done", "ns-s1": "resume", "lsgan-s0": "done", "lsgan-s1": "fresh"}
    for n, files in untouched.items():
        assert sorted((p.name, p.stat().st_mtime_ns) for p in (runs / n / "checkpoints").iterdir()) == files
    # the resumed run continues its log without repeating steps, and both reproduce the originals
    for name in ("ns-s1", "lsgan-s1"):
        new, old = rows_of(runs / name), rows_of(arena_dir / "runs" / name)
        assert [r["step"] for r in new] == [0, 20]
        assert (new[-1]["modes"], new[-1]["hq_fraction"]) == (old[-1]["modes"], old[-1]["hq_fraction"])
        # (loss_d, loss_g are means since the last evaluation or resume; the samples' metrics are exact)
        for k in ("mode_kl", "kl_binned", "js_binned"):
            assert new[-1][k] == pytest.approx(old[-1][k], rel=1e-9, abs=1e-12)
    res = collect(spec)
    assert all(r["status"] == "finished" and r["steps_done"] == STEPS for r in res["runs"])
    assert run_arena(spec, log=lambda s: None) == dict.fromkeys(actions, "done")


def test_wall_clock_budget_stops_a_run_cleanly(tmp_path):
    run_dir = tmp_path / "budget"
    cfg = {
        "data": "ring",
        "loss": "ns",
        "steps": 10**6,
        "max_wall_s": 0.5,
        "batch_size": 16,
        "n_eval": 100,
        "eval_every": 10**5,
        "out": str(run_dir),
        "progress": "none",
        "seed": 0,
    }
    st = train_one(cfg, "fresh")
    assert st["status"] == "budget" and 0 < st["step"] < 10**6, st
    rows = rows_of(run_dir)
    assert rows[-1]["step"] == st["step"] and rows[-1]["wall_s"] >= 0.5
    ckpts = sorted((run_dir / "checkpoints").glob("step-*.json"))
    assert json.loads(ckpts[-1].read_text())["step"] == st["step"]
    assert plan_run(run_dir, 10**6, 0.5) == "done"  # the same budget is not repeated
    assert plan_run(run_dir, 10**6, 5.0) == "resume"  # a larger one continues it


def _run(loss, seed, modes, hq, diverged=False):
    return {
        "loss": loss,
        "seed": seed,
        "status": "diverged" if diverged else "finished",
        "diverged": diverged,
        "collapsed": False,
        "time_to_target_s": None,
        "images_per_s": 100.0,
        "final": {"modes": modes, "hq_fraction": hq},
    }


def test_ranking_by_hand():
    runs = [
        _run("a", 0, 8, 0.5),
        _run("a", 1, 6, 0.9),
        _run("a", 2, 7, 0.7),
        _run("b", 0, 8, 0.9),
        _run("b", 1, 8, 0.1),
        _run("b", 2, 3, 0.2, diverged=True),
        _run("c", 0, 7, 0.5),
        _run("c", 1, 7, 0.9),
        _run("c", 2, 7, 0.7),
    ]
    table = ranking(runs, ["a", "b", "c"], ["modes", "hq_fraction"])
    # a: modes median 7, hq 0.7; b: modes (8, 8, -inf) -> 8, hq (0.9, 0.1, -inf) -> 0.1; c: 7, 0.7
    assert [(e["loss"], e["rank"]) for e in table] == [("b", 1), ("a", 2), ("c", 2)]
    b = table[0]
    assert b["median"] == {"modes": 8, "hq_fraction": 0.1} and b["diverged"] == 1
    assert b["min"]["modes"] is None and b["std"]["modes"] is None  # -inf is not JSON
    a = table[1]
    assert a["median"]["hq_fraction"] == 0.7 and a["std"]["modes"] == pytest.approx(
        math.sqrt(2 / 3), rel=1e-12
    )


def test_collapse_and_target_rules(tmp_path):
    spec = ArenaSpec(data="ring", losses=["x"], seeds=[0, 1, 2], steps=30, out=str(tmp_path))
    curves = {
        0: [(8, 0.5), (8, 0.6), (3, 0.6)],
        1: [(2, 0.5), (8, 0.6), (5, 0.7)],
        2: [(1, 0.0), (4, 0.3), (4, 0.05)],
    }
    for seed, pts in curves.items():
        d = spec.run_dir("x", seed)
        d.mkdir(parents=True)
        rows = [
            {
                "step": 10 * i,
                "images_seen": 320 * i,
                "wall_s": 1.5 * i,
                "modes": m,
                "modes_total": 8,
                "hq_fraction": h,
                "loss_d": 1.0,
            }
            for i, (m, h) in enumerate(pts)
        ]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "arena_status.json").write_text(json.dumps({"status": "finished", "main_metric": "modes"}))
    r0, r1, r2 = (run_result(spec, "x", s, None) for s in (0, 1, 2))
    assert r0["collapsed"] and r0["collapse_reason"] == "modes fell from 8 to 3"
    assert r0["time_to_target_s"] == 0.0 and r0["steps_to_target"] == 0
    assert r1["collapsed"] is False and r1["time_to_target_s"] == 1.5 and r1["steps_to_target"] == 10
    assert r1["images_per_s"] == pytest.approx(640 / 3.0, abs=0.05)
    # off the data at the end: not converged enough to judge, so neither collapsed nor not
    assert r2["collapsed"] is None and r2["off_mode"] is True and r2["time_to_target_s"] is None
    assert r2["collapse_reason"].startswith("hq_fraction 0.050 < 0.1: off-mode")
    assert run_result(spec, "x", 1, parse_target("hq_fraction>=0.65"))["steps_to_target"] == 20
    assert run_result(spec, "x", 1, parse_target("modes<=2"))["steps_to_target"] == 0
    res = collect(spec)
    write_json(tmp_path / "results.json", res)  # strict JSON: no NaN or inf anywhere
    entry = json.loads((tmp_path / "results.json").read_text())["ranking"][0]
    assert (entry["collapsed"], entry["off_mode"]) == (1, 1)
    with pytest.raises(ConfigError):
        parse_target("fid_lenet=10")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--losses", "nope"], "nope"),
        (["--set", "loss=ns"], "the arena sets this itself"),
        (["--seeds", "0"], "--seeds 0"),
        (["--set", "batch_size=-1"], "batch_size"),
    ],
)
def test_cli_mistakes_are_one_line_errors(argv, message, tmp_path, capsys):
    base = ["arena", "--data", "ring", "--losses", "ns", "--steps", "5", "--out", str(tmp_path / "o")]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "runs").exists()


def test_objectives_the_model_cannot_serve(tmp_path, capsys):
    from gankit import registries

    if "began" not in registries.OBJECTIVES.names():
        pytest.skip("no began objective registered")
    spec = ArenaSpec(data="ring", losses=["began"], seeds=[0], steps=5, out=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match="began"):
        run_arena(spec)  # named explicitly: an error before any training
    notes = []
    both = ArenaSpec(**{**spec.__dict__, "losses": ["began", "ns"]})
    assert check_configs(both, True, notes.append) == ["ns"]
    assert len(notes) == 1 and notes[0].startswith("arena: leaving out began:")
    assert not (tmp_path / "o" / "runs").exists()


def test_sigterm_stops_the_workers_too_and_the_arena_resumes(tmp_path):
    """``kill`` of the arena process reaches its workers: each checkpoints at its next step and
    stops (no worker trains on as an orphan), the arena exits 2, and the same command resumes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "arena"
    cmd = [
        sys.executable, "-m", "gankit", "arena", "--data", "ring", "--losses", "ns,lsgan",
        "--seeds", "1", "--steps", "100000", "--jobs", "2", "--out", str(out),
        "--set", "batch_size=32", "--set", "n_eval=64", "--set", "eval_every=100000",
        "--set", "ckpt_every=50",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = [out / "runs" / name for name in ("ns-s0", "lsgan-s0")]
    deadline = time.time() + 120
    while not all((r / "checkpoints").is_dir() and list((r / "checkpoints").glob("*.pt")) for r in runs):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "arena interrupted" in err, err[-2000:]
    # every worker stopped: its run folder no longer changes, and its status says why
    stamp = {r: sorted(p.name for p in (r / "checkpoints").glob("*.pt")) for r in runs}
    time.sleep(2)
    for r in runs:
        assert sorted(p.name for p in (r / "checkpoints").glob("*.pt")) == stamp[r]
        status = json.loads((r / "arena_status.json").read_text())
        assert "checkpoint saved" in status["error"], status
        assert plan_run(r, 100000, 0) == "resume"

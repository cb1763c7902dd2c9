"""The arena's report says what a short run shows: no red "collapsed" for runs that have not
converged, no step-0 point read as a baseline, no results dropped by a narrower rerun."""

from __future__ import annotations

import json

from gankit.arena import ArenaSpec, collect, write_report
from gankit.arena.report import median_curve
from gankit.arena.results import run_result
from gankit.cli import main


def fake_runs(spec: ArenaSpec, loss: str, curves: dict[int, list[tuple[int, int, float]]]) -> None:
    """Run folders holding only metrics.jsonl rows (step, modes, hq_fraction) and a status."""
    for seed, pts in curves.items():
        d = spec.run_dir(loss, seed)
        d.mkdir(parents=True)
        rows = [
            {"step": st, "images_seen": 32 * st, "wall_s": 0.1 * st + 1.0, "modes": m, "modes_total": 25}
            | {"hq_fraction": h, "loss_d": 1.0, "loss_g": 0.7}
            for st, m, h in pts
        ]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "arena_status.json").write_text(json.dumps({"status": "finished", "main_metric": "modes"}))


def test_short_grid_runs_are_not_called_collapsed(tmp_path):
    spec = ArenaSpec(data="grid", losses=["ns"], seeds=[0, 1], steps=20, out=str(tmp_path))
    # Step 0: the untrained G at the origin, on grid's centre mode (1 mode, hq near 1).
    fake_runs(
        spec,
        "ns",
        {
            0: [(0, 1, 0.97), (10, 0, 0.01), (20, 0, 0.02)],  # spread out, off the data
            1: [(0, 1, 0.97), (10, 0, 0.15), (20, 0, 0.2)],  # on the data, no mode covered yet
        },
    )
    r0, r1 = (run_result(spec, "ns", s, None) for s in (0, 1))
    assert r0["collapsed"] is None and r0["off_mode"] is True
    assert r1["collapsed"] is False and r1["off_mode"] is False  # 0 < 1/2 of step 0's 1 mode: no
    res = collect(spec)
    entry = res["ranking"][0]
    assert (entry["collapsed"], entry["off_mode"]) == (0, 1)
    html_path, _ = write_report(res, tmp_path)
    text = html_path.read_text()
    assert "<span class=bad>" not in text  # no count and no run flagged red
    assert "off-mode, too early to judge collapse" in text


def test_a_run_that_lost_its_modes_is_collapsed(tmp_path):
    spec = ArenaSpec(data="grid", losses=["ns"], seeds=[0], steps=30, out=str(tmp_path))
    fake_runs(spec, "ns", {0: [(0, 1, 0.97), (10, 20, 0.6), (20, 22, 0.7), (30, 4, 0.9)]})
    r = run_result(spec, "ns", 0, None)
    assert r["collapsed"] is True and r["collapse_reason"] == "modes fell from 22 to 4"
    html = write_report(collect(spec), tmp_path)[0].read_text()
    assert "<span class=bad>1</span>" in html


def test_curves_start_after_step_0():
    runs = [
        {
            "curve": [
                {"step": 0, "wall_s": 0.0, "hq_fraction": 0.97},
                {"step": 10, "wall_s": 2.0, "hq_fraction": 0.1},
            ]
        },
        {
            "curve": [
                {"step": 0, "wall_s": 0.0, "hq_fraction": 0.95},
                {"step": 10, "wall_s": 4.0, "hq_fraction": 0.3},
            ]
        },
    ]
    assert median_curve(runs, "hq_fraction") == [(3.0, 0.2)]
    only_step_0 = [{"curve": [{"step": 0, "wall_s": 0.0, "hq_fraction": 0.9}]}]
    assert median_curve(only_step_0, "hq_fraction") == [(0.0, 0.9)]  # nothing else to show


def test_rerun_with_fewer_losses_keeps_earlier_results(tmp_path, capsys):
    out = tmp_path / "a"
    argv = ["arena", "--data", "ring", "--seeds", "1", "--steps", "2", "--jobs", "1", "--out", str(out)]
    argv += ["--set", "batch_size=16", "--set", "n_eval=50", "--set", "model.width=8"]
    assert main([*argv, "--losses", "ns,lsgan"]) == 0
    first = json.loads((out / "results.json").read_text())
    capsys.readouterr()
    assert main([*argv, "--losses", "ns"]) == 0
    printed = capsys.readouterr().out
    assert "keeping the earlier results of lsgan" in printed
    again = json.loads((out / "results.json").read_text())
    assert sorted(e["loss"] for e in again["ranking"]) == ["lsgan", "ns"]
    by_name = {r["name"]: r for r in again["runs"]}
    for run in first["runs"]:
        assert by_name[run["name"]]["final"] == run["final"]  # the same results, nothing retrained

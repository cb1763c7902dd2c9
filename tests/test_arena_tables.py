"""benchmarks/arena_tables.py: README's arena tables and sentences from results.json files,
checked against numbers worked out by hand from small made-up arenas."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from gankit.arena.results import ranking

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tables = load_module("arena_tables")


def run(
    loss,
    seed,
    final,
    ips,
    collapsed=False,
    diverged=False,
    ttt=None,
    steps=100,
    status="finished",
    reason=None,
):
    return {
        "collapse_reason": reason,
        "loss": loss,
        "seed": seed,
        "status": status,
        "steps_done": steps,
        "images_per_s": ips,
        "final": final,
        "diverged": diverged,
        "collapsed": collapsed,
        "time_to_target_s": ttt,
    }


def results(data, runs, keys, main, target=None):
    losses = list(dict.fromkeys(r["loss"] for r in runs))
    return {
        "data": data,
        "model": "mlp",
        "losses": losses,
        "seeds": sorted({r["seed"] for r in runs}),
        "steps": 100,
        "budget_s": 30.0,
        "device": "cpu",
        "sets": ["n_eval=2500"],
        "main_metric": main,
        "rank_by": keys,
        "target": target,
        "runs": runs,
        "ranking": ranking(runs, losses, keys),
    }


def ring_results():
    m = {"modes_total": 8}
    runs = [
        run("ns", 0, {**m, "modes": 8, "hq_fraction": 0.9}, 1000.0, ttt=3.0),
        run("ns", 1, {**m, "modes": 6, "hq_fraction": 0.5}, 1200.0),
        run(
            "wgan-gp",
            0,
            {**m, "modes": 3, "hq_fraction": 0.05},
            250.0,
            collapsed=True,
            reason="hq_fraction 0.050 < 0.1",
        ),
        run(
            "wgan-gp",
            1,
            {**m, "modes": 2, "hq_fraction": 0.2},
            200.0,
            collapsed=True,
            steps=60,
            status="budget",
            reason="modes fell from 6 to 2",
        ),
    ]
    return results("ring", runs, ["modes", "hq_fraction"], "modes")


def mnist_results():
    target = {"description": "fid_lenet <= 10"}
    runs = [
        run("ns", 0, {"fid_lenet": 8.0, "n_fake": 2500}, 3000.0, ttt=20.0),
        run("ns", 1, {"fid_lenet": 12.0, "n_fake": 2500}, 3000.0),
        run("hinge", 0, {"fid_lenet": 30.0, "n_fake": 2500}, 2000.0),
        run("hinge", 1, {"fid_lenet": 20.0, "n_fake": 2500}, 2000.0),
    ]
    return results("mnist", runs, ["fid_lenet"], "fid_lenet", target)


def test_toy_table_rows_by_hand():
    lines = tables.toy_table(ring_results())
    # ns: modes median (8 + 6) / 2 = 7, hq median 70 %; reached 1/2, time median (3, inf) = inf
    # last two columns: runs that lost modes, runs with almost no sample on a mode
    assert lines[2] == "| 1 | ns | 7 (6-8) | 70.0 (50.0-90.0) | 1/2 | - | 100-100 | 1100 | 0/2 | 0/2 | 0/2 |"
    assert (
        lines[3] == "| 2 | wgan-gp | 2.5 (2-3) | 12.5 (5.0-20.0) | 0/2 | - | 60-100 | 225 | 0/2 | 1/2 | 1/2 |"
    )


def test_image_table_sits_beside_lucic():
    lines = tables.image_table(mnist_results())
    assert "fid_lenet median (min-max)" in lines[0] and "reached fid_lenet <= 10" in lines[0]
    assert lines[2] == "| 1 | ns | 10.0 (8.0-12.0) | 6.8 ± 0.5 | 1/2 | - | 100-100 | 3000 | 0/2 |"
    assert lines[3].startswith("| 2 | hinge | 25.0 (20.0-30.0) | - |")


def test_section_from_results_files(tmp_path):
    (tmp_path / "ring").mkdir()
    (tmp_path / "ring" / "results.json").write_text(json.dumps(ring_results()))
    (tmp_path / "m.json").write_text(json.dumps(mnist_results()))
    text = tables.section([tables.load(tmp_path / "ring"), tables.load(tmp_path / "m.json")])
    assert text.count("| rank |") == 2 and "Unrolled GAN (VEEGAN Table 1) | 7.6" in text
    teach = text.split("**What it teaches.**")[1]
    assert "ns on ring (7/8 modes, 70.0 % high quality)" in teach
    assert "wgan-gp (2/2 runs); never: ns" in teach
    # per image: ns median of medians 1100, wgan-gp 225 -> 4.9x
    assert "wgan-gp is the slowest (225 img/s" in teach and "4.9x" in teach
    assert "ns 10.0, hinge 25.0" in teach and "2500 samples" in teach


def test_cpu_lists():
    toy = load_module("arena_toy")
    assert toy.parse_cpus("0-3,6, 8-9") == {0, 1, 2, 3, 6, 8, 9}
    assert toy.parse_cpus("5") == {5}


def test_objectives_with_fewer_seeds_count_their_own_runs():
    """An arena rerun with more seeds for some objectives keeps the others' earlier runs: their
    diverged count and the setup line use the runs each objective has, not the arena's seeds."""
    res = mnist_results()
    res["runs"] = [*res["runs"], run("ns", 2, {"fid_lenet": 9.0, "n_fake": 2500}, 3000.0, ttt=30.0)]
    res["seeds"] = [0, 1, 2]
    res["ranking"] = ranking(res["runs"], res["losses"], ["fid_lenet"])
    lines = tables.image_table(res)
    assert lines[2] == "| 1 | ns | 9.0 (8.0-12.0) | 6.8 ± 0.5 | 2/3 | 30.0 | 100-100 | 3000 | 0/3 |"
    assert lines[3].endswith("| 0/2 |")  # hinge: 2 runs, not 3
    assert (
        "2 objectives x 3 seeds (with fewer runs, kept from an earlier arena or missing: hinge 2), model"
        in tables.setup_line(res)
    )
    teach = tables.section([res]).split("**What it teaches.**")[1]
    assert "over 3 seeds, 30 s per run): ns 9.0, hinge 25.0 (2 of them)." in teach
    full = tables.setup_line(mnist_results())
    assert "2 objectives x 2 seeds, model `mlp`" in full and "kept" not in full

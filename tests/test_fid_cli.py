"""``gankit fid``: every input kind, the dataset cache, the errors; ``eval --metrics inception``,
``inception_every`` and the arena's ``--rank-by``. A small stand-in network replaces Inception
where the network is not the point (the real one runs in one test at the end)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.cli import main
from gankit.metrics import inception
from gankit.metrics.inception_eval import fid_kid


class Pool(torch.nn.Module):
    """(B, 3, 299, 299) -> (B, 12): 2x2 average pooling per channel."""

    calls = 0

    def forward(self, x):
        Pool.calls += x.shape[0]
        return F.adaptive_avg_pool2d(x, 2).flatten(1)


@pytest.fixture
def fake_net(monkeypatch, tmp_path):
    ext = inception.Extractor("test-pool", Pool(), torch.device("cpu"))
    monkeypatch.setattr(inception, "load_extractor", lambda device=None, weights=None: ext)
    monkeypatch.setenv("GANKIT_FID_STATS", str(tmp_path / "stats"))
    Pool.calls = 0
    return ext


def images(n=30, size=12, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def write_pngs(folder, x):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(x):
        a = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        Image.fromarray(a).save(folder / f"{i:03d}.png")
    return folder


def fid_json(capsys, *argv):
    assert main(["fid", *argv, "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def direct_features(x, ext):
    return inception.features(torch.from_numpy(x).split(7), len(x), ext)


def test_folder_npy_and_npz_of_the_same_images_agree(fake_net, tmp_path, capsys):
    x, y = images(seed=0), images(seed=1)
    folder = write_pngs(tmp_path / "a", x)
    np.save(tmp_path / "a.npy", x.transpose(0, 2, 3, 1))  # NHWC uint8
    np.savez(tmp_path / "b.npz", images=y)
    np.save(tmp_path / "b_float.npy", y / 127.5 - 1)  # gankit's [-1, 1] floats
    same = fid_json(capsys, str(folder), str(tmp_path / "a.npy"))
    assert abs(same["fid_inception"]) < 1e-6 and same["n_a"] == same["n_b"] == 30
    out = fid_json(capsys, str(folder), str(tmp_path / "b.npz"))
    want = fid_kid(direct_features(x, fake_net), direct_features(y, fake_net))
    assert out["fid_inception"] == pytest.approx(want["fid_inception"], rel=1e-9)
    assert out["kid_inception"] == pytest.approx(want["kid_inception"], rel=1e-9)
    as_float = fid_json(capsys, str(folder), str(tmp_path / "b_float.npy"))
    assert as_float["fid_inception"] == pytest.approx(want["fid_inception"], rel=1e-9)


def test_grayscale_folder_equals_its_rgb_copy(fake_net, tmp_path, capsys):
    g = images(channels=1, seed=2)
    write_pngs(tmp_path / "gray", g)
    np.save(tmp_path / "rgb.npy", np.repeat(g, 3, axis=1))
    out = fid_json(capsys, str(tmp_path / "gray"), str(tmp_path / "rgb.npy"))
    assert abs(out["fid_inception"]) < 1e-6


def test_n_takes_a_seeded_subset(fake_net, tmp_path, capsys):
    x = images(n=40, seed=3)
    np.save(tmp_path / "x.npy", x)
    chosen = x[inception.subset(40, 25).numpy()]
    np.save(tmp_path / "chosen.npy", chosen)
    out = fid_json(capsys, str(tmp_path / "x.npy"), str(tmp_path / "chosen.npy"), "--n", "25")
    assert out["n_a"] == 25 and abs(out["fid_inception"]) < 1e-6


def test_stats_file_round_trip_has_no_kid(fake_net, tmp_path, capsys):
    x, y = images(seed=4), images(seed=5)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert (
        main(["fid", str(tmp_path / "x.npy"), "--save-stats", str(tmp_path / "s.npz"), "--no-progress"]) == 0
    )
    saved = np.load(tmp_path / "s.npz")
    fx = direct_features(x, fake_net).astype(np.float64)
    np.testing.assert_allclose(saved["mu"], fx.mean(0), rtol=1e-12)
    assert int(saved["n"]) == 30 and str(saved["protocol"]) == inception.PROTOCOL
    out = fid_json(capsys, str(tmp_path / "s.npz"), str(tmp_path / "y.npy"))
    full = fid_kid(fx, direct_features(y, fake_net))
    assert out["fid_inception"] == pytest.approx(full["fid_inception"], rel=1e-9)
    assert (
        out["kid_inception"] is None
        and out["kid_inception_std"] is None
        and "mu and sigma" in out["kid_note"]
    )
    assert out["n_a"] == 30
    np.savez(tmp_path / "bare.npz", mu=saved["mu"], sigma=saved["sigma"])  # pytorch-fid's layout
    assert main(["fid", str(tmp_path / "bare.npz"), str(tmp_path / "y.npy"), "--no-progress"]) == 0
    assert "does not say how it was computed" in capsys.readouterr().err


def test_dataset_split_is_cached_and_matches_its_images(fake_net, tmp_path, capsys, data_dir):
    from gankit.data.images import load_idx_split

    test_x = load_idx_split("mnist", str(data_dir), "test")[0]
    np.save(tmp_path / "t.npy", test_x[inception.subset(len(test_x), 30)].numpy())
    args = ["mnist:test", str(tmp_path / "t.npy"), "--n", "30", "--data-dir", str(data_dir)]
    out = fid_json(capsys, *args)
    assert abs(out["fid_inception"]) < 1e-6 and out["n_a"] == 30
    assert len(list((tmp_path / "stats").glob("mnist-test-n30-clean-*.npy"))) == 1
    calls = Pool.calls
    assert fid_json(capsys, *args)["fid_inception"] == out["fid_inception"]
    assert Pool.calls - calls == 30  # only the .npy side was computed again
    fid_json(capsys, "fashion-mnist:train", str(tmp_path / "t.npy"), "--n", "30", "--data-dir", str(data_dir))
    assert len(list((tmp_path / "stats").glob("*.npy"))) == 2


def test_folder_dataset_is_cached_until_a_file_changes(fake_net, tmp_path, capsys):
    folder = write_pngs(tmp_path / "imgs", images(n=20, seed=6))
    np.save(tmp_path / "y.npy", images(n=20, seed=7))
    fid_json(capsys, f"folder:{folder}", str(tmp_path / "y.npy"))
    fid_json(capsys, f"folder:{folder}", str(tmp_path / "y.npy"))
    assert len(list((tmp_path / "stats").glob("folder-imgs-all-n20-*.npy"))) == 1
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / "000.png")
    fid_json(capsys, f"folder:{folder}", str(tmp_path / "y.npy"))
    assert len(list((tmp_path / "stats").glob("folder-imgs-all-n20-*.npy"))) == 2


def train_argv(folder, out, steps=2):
    argv = ["train", "--data", f"folder:{folder}", "--model", "dcgan", "--set", "data.image_size=16"]
    argv += ["--set", "model.width=8", "--steps", str(steps), "--eval-every", "2", "--n-eval", "16"]
    return argv + ["--batch-size", "16", "--progress", "none", "--out", str(out)]


@pytest.fixture
def tiny_run(tmp_path):
    folder = write_pngs(tmp_path / "train", images(n=64, size=16, seed=8))
    run = tmp_path / "run"
    return run, train_argv(folder, run)


def test_run_folder_draws_n_samples(fake_net, tiny_run, tmp_path, capsys):
    run, argv = tiny_run
    assert main(argv) == 0
    np.save(tmp_path / "y.npy", images(n=20, size=16, seed=9))
    out = fid_json(capsys, str(run), str(tmp_path / "y.npy"), "--n", "20")
    assert out["n_a"] == 20 and np.isfinite(out["fid_inception"]) and out["fid_inception"] > 0


def test_eval_and_training_log_inception_metrics(fake_net, tiny_run, capsys):
    run, argv = tiny_run
    assert main([*argv, "--set", "inception_every=2", "--set", "n_inception=20"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "fid_inception" not in rows[0] and rows[0]["step"] == 0
    assert rows[-1]["step"] == 2 and np.isfinite(rows[-1]["fid_inception"]) and rows[-1]["n_inception"] == 20
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--n", "20", "--metrics", "inception"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fid_inception"] == pytest.approx(rows[-1]["fid_inception"], rel=1e-9)
    assert {"kid_inception", "precision_inception", "coverage_inception"} <= set(out)


def test_resume_with_inception_metrics_is_exact(fake_net, tiny_run, tmp_path):
    run, argv = tiny_run
    extra = ["--set", "inception_every=2", "--set", "n_inception=20"]
    straight = tmp_path / "straight"
    assert main([*train_argv(tmp_path / "train", straight, steps=4), *extra]) == 0
    assert main([*argv, *extra]) == 0  # 2 steps, then resumed to 4
    assert main(["train", "--resume", str(run), "--steps", "4", "--progress", "none"]) == 0

    def rows(folder):
        return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]

    a, b = rows(straight), rows(run)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [0, 2, 4]
    for key in ("loss_d", "loss_g", "fid_inception", "kid_inception"):
        assert a[-1][key] == b[-1][key], key


def test_arena_rank_by_an_inception_metric():
    from gankit.arena.results import rank_keys
    from gankit.arena.runner import ArenaSpec, base_config

    spec = ArenaSpec("mnist", ["ns"], [0], steps=100, out="x", rank_by="fid_inception")
    assert base_config(spec)["inception_every"] == 100
    assert rank_keys("fid_lenet", {"fid_lenet": 1.0}, spec.rank_by) == ["fid_inception"]
    spec.sets = ["inception_every=50"]
    assert int(base_config(spec)["inception_every"]) == 50  # --set wins (coerced later)


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "does not exist"),
        ("empty", "no images"),
        ("mixed", "images of different sizes"),
        ("too_many", "holds only 30 images"),
        ("bad_split", "split 'valid'"),
        ("no_split", "give a split, e.g. mnist:test"),
        ("bad_float", "float images must lie in [-1, 1]"),
        ("one_side", "give A and B"),
    ],
)
def test_bad_inputs_get_one_line_and_exit_2(fake_net, tmp_path, capsys, case, needle):
    np.save(tmp_path / "ok.npy", images())
    ok = str(tmp_path / "ok.npy")
    (tmp_path / "empty").mkdir()
    write_pngs(tmp_path / "mixed", images(n=2, size=8))
    write_pngs(tmp_path / "mixed2", images(n=1, size=9))
    (tmp_path / "mixed2" / "000.png").rename(tmp_path / "mixed" / "zzz.png")
    np.save(tmp_path / "bad.npy", images().astype(np.float32))
    argv = {
        "missing": [str(tmp_path / "nope"), ok],
        "empty": [str(tmp_path / "empty"), ok],
        "mixed": [str(tmp_path / "mixed"), ok],
        "too_many": [ok, ok, "--n", "31"],
        "bad_split": ["mnist:valid", ok],
        "no_split": ["mnist", ok],
        "bad_float": [str(tmp_path / "bad.npy"), ok],
        "one_side": [ok],
    }[case]
    assert main(["fid", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error:") and needle in err and len(err.splitlines()) == 1


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_real_network_end_to_end_saves_the_stats_of_its_features(tmp_path, capsys):
    try:
        inception.verify_weights(inception.weights_path())
    except inception.InceptionUnavailable as e:
        pytest.skip(f"Inception weights absent ({e})")
    x = images(n=3, size=16, seed=10)
    write_pngs(tmp_path / "x", x)
    out = tmp_path / "s.npz"
    assert (
        main(["fid", str(tmp_path / "x"), "--save-stats", str(out), "--device", "cpu", "--no-progress"]) == 0
    )
    feats = inception.features(torch.from_numpy(x).split(2), 3, inception.load_extractor("cpu"))
    saved = np.load(out)
    assert saved["mu"].shape == (2048,) and saved["sigma"].shape == (2048, 2048)
    np.testing.assert_allclose(saved["mu"], feats.astype(np.float64).mean(0), rtol=1e-6, atol=1e-7)
    assert "inception-2015-12-05" in str(saved["network"])

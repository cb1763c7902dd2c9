"""Theory lab experiments on small budgets: critic estimates, the optimal discriminator,
maximum likelihood versus KL, the modes minimizers, and the CLI end to end."""

import itertools
import json
import math

import pytest
import torch

from gankit.cli import main
from gankit.data.base import build_dataset
from gankit.errors import ConfigError
from gankit.theory.games import CriticBudget, critic_config, estimate_divergence, optimal_discriminator
from gankit.theory.mle import entropy, mle_vs_kl
from gankit.theory.modes import exact_minimizer
from gankit.theory.spec import parse_spec
from gankit.training.trainer import Trainer

P, Q = "normal(0,1)", "normal(1,1.1)"
# KL(N(0,1) || N(1,1.1^2)) = log(1.1) + (1 + 1) / (2 * 1.21) - 1/2, worked out by hand.
KL_PQ = math.log(1.1) + 2 / 2.42 - 0.5
TINY = CriticBudget(steps=150, batch_size=512)


def test_dist_dataset_and_critic_recipe_build_through_the_config():
    ds = build_dataset("dist:mix(0.5*normal(-1,0.5),0.5*normal(1,0.5))")
    assert ds.sample_shape == (1,)
    x = ds.stream(64, seed=0).next().x
    assert x.shape == (64, 1)
    trainer = Trainer(critic_config("fgan-kl", P, Q, CriticBudget(steps=1, batch_size=8)))
    assert trainer.recipe.players == ("D",)
    logs = trainer.train_step()
    assert torch.isfinite(logs["loss_d"])
    with pytest.raises(ConfigError, match="column"):
        Trainer(critic_config("fgan-kl", P, "normal(0,", CriticBudget(steps=1)))
    with pytest.raises(ConfigError, match="2-D"):
        Trainer(critic_config("fgan-kl", P, "normal2d(0,0,1,1)", CriticBudget(steps=1)))


def test_small_budget_kl_estimate_is_close_and_a_lower_bound():
    r = estimate_divergence("kl", P, Q, TINY)
    assert r["exact"] == pytest.approx(KL_PQ, rel=1e-12)
    # A trained critic's bound lands within 3% of KL on this budget; evaluated by quadrature,
    # it cannot exceed KL (up to the grid's error).
    assert KL_PQ * 0.97 <= r["estimate"] <= KL_PQ + 1e-6
    assert r["critic_sup_error"] < 0.5


def test_small_budget_tv_estimate():
    r = estimate_divergence("tv", P, Q, TINY)
    assert r["estimate"] == pytest.approx(r["exact"], abs=0.02)
    assert r["estimate"] <= r["exact"] + 1e-6


def test_optimal_discriminator_small_budget():
    r = optimal_discriminator(P, Q, CriticBudget(steps=200, batch_size=512))
    assert r["sup_error"] < 0.04
    # V(D) <= V(D*) = -log 4 + 2 JSD and close to it.
    assert r["optimal_value"] - 0.01 <= r["value"] <= r["optimal_value"] + 1e-6
    assert -math.log(4) < r["optimal_value"] < 0


def test_mle_vs_kl_identity_and_em_monotone():
    assert entropy(parse_spec("normal(0,2)")) == pytest.approx(
        0.5 * math.log(2 * math.pi * math.e * 4), rel=1e-10
    )
    r = mle_vs_kl("mix(0.3*normal(-2,0.5),0.7*normal(1,1))", k=2, n_train=1000, n_test=40_000, iters=4)
    rows = r["rows"]
    for row in rows:
        assert row["cross_entropy_exact"] == pytest.approx(row["entropy_plus_kl"], abs=1e-8)
        tol = 5 * row["gap_std_error"] + 0.003
        assert row["loglik_gap_true_minus_model"] == pytest.approx(row["kl_exact"], abs=tol)
        assert row["minus_loglik_test_minus_entropy"] == pytest.approx(row["kl_exact"], abs=0.03)
    train = [row["loglik_train"] for row in rows]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(train))  # EM never lowers the likelihood
    assert rows[-1]["kl_exact"] < rows[0]["kl_exact"]


def test_forward_kl_minimizer_matches_moments():
    # argmin_Gaussian KL(P || N(m, s^2)) matches P's mean and variance.
    P_mix = parse_spec("mix(0.4*normal(-2,0.5),0.6*normal(2,0.5))")
    mean = 0.4 * -2 + 0.6 * 2
    var = 0.4 * (0.25 + 4) + 0.6 * (0.25 + 4) - mean**2
    r = exact_minimizer("kl", P_mix)
    assert r["mean"] == pytest.approx(mean, abs=2e-3)
    assert r["std"] == pytest.approx(math.sqrt(var), abs=2e-3)


def test_cli_divergence_json_end_to_end(tmp_path, capsys):
    out = tmp_path / "div"
    rc = main(
        [
            "divergence",
            "--f",
            "hellinger",
            "--steps",
            "100",
            "--batch-size",
            "512",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    got = json.loads(capsys.readouterr().out)
    assert {"divergence", "estimate", "exact", "abs_error", "rel_error"} <= set(got)
    assert got["divergence"] == "hellinger"
    assert got["abs_error"] == pytest.approx(abs(got["estimate"] - got["exact"]), rel=1e-9)
    assert got["abs_error"] < 0.02
    assert (out / "result.png").stat().st_size > 1000
    assert json.loads((out / "result.json").read_text())["exact"] == got["exact"]


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["divergence", "--f", "kl", "--p", "normal(0,", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "column 10" in err and "Traceback" not in err
    assert main(["divergence", "--f", "chi", "--out", str(tmp_path / "y")]) == 2
    assert main(["modes", "--f", "kl,bogus", "--out", str(tmp_path / "z")]) == 2


def test_cli_optimal_d_and_modes_tiny(tmp_path, capsys):
    assert main(["optimal-d", "--steps", "60", "--batch-size", "256", "--out", str(tmp_path / "od")]) == 0
    table = capsys.readouterr().out
    assert "-log4 + 2 JSD" in table
    assert (tmp_path / "od" / "result.png").exists()
    assert (
        main(
            [
                "modes",
                "--f",
                "rkl",
                "--steps",
                "20",
                "--batch-size",
                "64",
                "--out",
                str(tmp_path / "m"),
                "--json",
            ]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    (row,) = got["rows"]
    assert row["divergence"] == "rkl"
    # Reverse KL locks onto one mode: the exact minimizer sits near a component mean with
    # about its width (the heavier mode at +2).
    assert row["exact_mean"] == pytest.approx(2.0, abs=0.1)
    assert row["exact_std"] == pytest.approx(0.5, abs=0.05)
    assert (tmp_path / "m" / "result.png").exists()

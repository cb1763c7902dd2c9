"""Mode covering versus mode seeking: one Gaussian fitted to a two-mode mixture by each
f-divergence, through the f-GAN game and by direct numerical minimization.

The model Q_theta = N(mean, exp(log_std)^2) minimizes D_f(P||Q_theta). The game is the
recipe ``gaussian-fit`` with objective ``fgan-NAME`` and ``generator=saddle`` (G minimizes the
variational bound itself, so its fixed points are the divergence's minimizers). The reference
minimizer comes from ``scipy.optimize.minimize`` (Nelder-Mead, several starts, the best kept)
of the divergence integrated numerically on a Gauss-Legendre grid; a local minimizer reached
from the game's own starting point is reported too, since a game, like any local method, can
stop in a local minimum (JS and Hellinger have one that covers both modes).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from scipy import optimize

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.theory.distributions import Distribution, Normal
from gankit.theory.exact import diverges_at_edge, get_divergence, grid_divergence
from gankit.theory.spec import parse_spec


@dataclasses.dataclass
class GameBudget:
    steps: int = 1500  # generator updates
    batch_size: int = 512
    n_critic: int = 2
    width: int = 64
    lr_d: float = 2e-3
    lr_g: float = 1e-2
    init_mean: float = 0.5  # G starts narrow, between the modes
    init_std: float = 0.5
    seed: int = 0


def divergence_to_normal(name: str, P: Distribution, mean: float, log_std: float) -> float:
    """D_f(P || N(mean, exp(log_std)^2)) by Gauss-Legendre quadrature; inf where it diverges."""
    div = get_divergence(name)
    Q = Normal(mean, math.exp(log_std))
    box = [(min(P.box()[0][0], Q.box()[0][0]), max(P.box()[0][1], Q.box()[0][1]))]
    if diverges_at_edge(div, P, Q, box):
        return math.inf
    return grid_divergence(div, P, Q, panels=300, order=8, box=box)


def exact_minimizer(
    name: str, P: Distribution, starts: list[tuple[float, float]] | None = None, on_eval=None
) -> dict:
    """argmin over (mean, log std) of D_f(P||N(mean, std^2)): best of Nelder-Mead runs from
    ``starts`` (mean, log std); by default from each mixture component and P's moments.
    ``on_eval(start, n_starts, evaluations)`` is called after each evaluation of D_f."""
    if starts is None:
        comps = getattr(P, "components", [P])
        starts = [(c.mean, math.log(c.std)) if isinstance(c, Normal) else (0.0, 0.0) for c in comps]
        x = P.sample(20000, torch.Generator().manual_seed(0))[:, 0]
        starts.append((float(x.mean()), math.log(float(x.std()))))
    best = None
    for i, s in enumerate(starts):
        count = [0]

        def objective(th, i=i, count=count):
            value = divergence_to_normal(name, P, th[0], th[1])
            count[0] += 1
            if on_eval is not None:
                on_eval(i, len(starts), count[0])
            return value

        with np.errstate(invalid="ignore"):  # inf - inf in the simplex where D_f is infinite
            res = optimize.minimize(
                objective,
                np.array(s),
                method="Nelder-Mead",
                options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 400},
            )
        if best is None or res.fun < best.fun:
            best = res
    return {"mean": float(best.x[0]), "std": math.exp(best.x[1]), "divergence": float(best.fun)}


def game_config(name: str, p_spec: str, budget: GameBudget) -> Config:
    return Config(
        data=f"dist:{p_spec}",
        model="mlp",
        loss=f"fgan-{name}",
        loss_args={"generator": "saddle"},
        recipe="gaussian-fit",
        recipe_args={"init_mean": budget.init_mean, "init_std": budget.init_std},
        model_args={"width": budget.width, "depth": 2, "d_activation": "silu"},
        steps=budget.steps,
        batch_size=budget.batch_size,
        n_critic=budget.n_critic,
        lr_d=budget.lr_d,
        lr_g=budget.lr_g,
        betas=(0.5, 0.999),
        lr_schedule="linear-decay",
        decay_start=0.5,
        seed=budget.seed,
        device="cpu",
        progress="none",
    )


def fit_by_game(name: str, p_spec: str, budget: GameBudget, on_step=None) -> dict:
    """Train the saddle-form f-GAN game of a learnable Gaussian against P; the fitted (mean, std).
    ``on_step(step)`` is called after every generator update."""
    from gankit.training.trainer import Trainer

    trainer = Trainer(game_config(name, p_spec, budget))
    path = []
    for _ in range(budget.steps):
        trainer.train_step()
        if on_step is not None:
            on_step(trainer.state.step)
        if trainer.state.step % max(1, budget.steps // 50) == 0:
            path.append(_fitted(trainer.recipe.G))
    mean, std = _fitted(trainer.recipe.G)
    return {"mean": mean, "std": std, "path": path}


@torch.no_grad()
def _fitted(G) -> tuple[float, float]:
    return float(G.mean[0]), float(G.log_std[0].exp())


def modes(p_spec: str, names: list[str], budget: GameBudget | None = None, report=None) -> dict:
    """For each divergence: the game's fit and the exact minimizer, with D_f at both.
    ``report(index, name, stage)`` is called as the work goes on (progress display): ``stage``
    says which part runs, e.g. ``game step 300/1500`` or ``exact minimum: start 2/4, 57 evals``."""
    budget = budget or GameBudget()
    P = parse_spec(p_spec)
    if P.dim != 1:
        raise ConfigError(f"modes fits a 1-D Gaussian; --p {p_spec!r} is {P.dim}-D")
    rows = []
    say = report or (lambda index, name, stage: None)
    for index, name in enumerate(names):
        get_divergence(name)
        t0 = time.perf_counter()
        game = fit_by_game(
            name, p_spec, budget, lambda s, i=index, n=name: say(i, n, f"game step {s}/{budget.steps}")
        )
        train_s = time.perf_counter() - t0

        def evals(what, i=index, n=name):
            return lambda k, starts, count: say(i, n, f"{what}: start {k + 1}/{starts}, {count} evals")

        exact = exact_minimizer(name, P, on_eval=evals("exact minimum"))
        # The minimizer a local method reaches from the game's own starting point.
        local = exact_minimizer(
            name, P, [(budget.init_mean, math.log(budget.init_std))], on_eval=evals("local minimum")
        )
        rows.append(
            {
                "divergence": name,
                "game_mean": game["mean"],
                "game_std": game["std"],
                "game_divergence": divergence_to_normal(name, P, game["mean"], math.log(game["std"])),
                "exact_mean": exact["mean"],
                "exact_std": exact["std"],
                "exact_divergence": exact["divergence"],
                "local_mean": local["mean"],
                "local_std": local["std"],
                "local_divergence": local["divergence"],
                "train_seconds": round(train_s, 2),
                "_path": game["path"],
            }
        )
    return {"p": P.spec(), "budget": dataclasses.asdict(budget), "rows": rows}

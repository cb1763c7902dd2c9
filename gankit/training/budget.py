"""Time-aware training: fit the run's step count to a wall-clock budget (``max_wall_s``).

A schedule driven by the clock would make no two runs, and no resume, alike. Instead the run
measures its speed and then fixes a step count, the *horizon*, that fits the budget; the
learning-rate schedule (``linear-decay``) and the end of training follow the horizon, so a
decay defined over the run ends when the budget does. The horizon is part of the training
state in every checkpoint, so a resume continues the same schedule exactly.

- Calibration: after the first ``CALIBRATE_STEPS`` steps and ``CALIBRATE_S`` seconds of
  training, from the measured steps per second of training and the measured cost of an
  evaluation with its checkpoint (the step-0 evaluation, then the mean of all).
- Re-estimation at every checkpoint and every ``1/REESTIMATES`` of the horizon (in steps, so
  every rank and every resume re-estimates at the same steps), only before the decay starts:
  the constant phase absorbs a machine that got slower or faster; the decay, once started,
  keeps its length. (At checkpoints alone, a run whose first fitted horizon was shorter than
  its checkpoint interval was never corrected: measured, MNIST rpgan beside two other runs
  fitted 486 steps at 500-step checkpoints and ended 91 s early.)
- ``steps`` stays an upper bound; ``max_wall_s`` stays a hard stop (evaluate, checkpoint), for a
  machine that slows down after the decay has started.
- A resume that changes ``steps`` or ``max_wall_s`` calibrates again.
"""

from __future__ import annotations

CALIBRATE_STEPS = 20
CALIBRATE_S = 5.0
MARGIN = 0.97  # of the remaining budget planned for, so the final evaluation fits too
REESTIMATES = 20  # re-estimations per horizon besides the checkpoints'


def fit_steps(
    step: int,
    elapsed_s: float,
    steps_per_s: float,
    eval_s: float,
    eval_every: int,
    budget_s: float,
    max_steps: int,
) -> int:
    """The largest step count ``h`` (``step < h <= max_steps`` where possible) such that training
    from ``step`` to ``h`` at ``steps_per_s`` plus an evaluation of ``eval_s`` at every multiple
    of ``eval_every`` after ``step`` and at ``h`` fits ``MARGIN`` of the budget left."""
    left = MARGIN * (budget_s - elapsed_s)
    if steps_per_s <= 0 or left <= 0:
        return min(max_steps, step + 1)

    def cost(h: int) -> float:
        evals = h // eval_every - step // eval_every + (0 if h % eval_every == 0 else 1)
        return (h - step) / steps_per_s + evals * eval_s

    lo, hi = step + 1, min(max_steps, step + 2 + int(left * steps_per_s))
    if hi <= lo or cost(lo) > left:
        return min(max_steps, lo)
    if cost(hi) <= left:
        return hi
    while hi - lo > 1:  # cost grows with h: the last h that fits, by bisection
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= left else (lo, mid)
    return lo


class WallBudget:
    """The horizon of a run under ``max_wall_s``, kept in the training state (``state.horizon``,
    checkpointed); without a budget the run follows ``steps`` and the state keeps 0."""

    def __init__(self, cfg, agree=None):
        """``agree``: under torchrun, maps this rank's horizon to the one all ranks use (the
        smallest); calibration then waits for steps only, which every rank counts alike."""
        self.cfg = cfg
        self.agree = agree
        self.overhead_s = 0.0  # evaluations and checkpoints of this process (step 0's included)
        self.overhead_n = 0
        self.overhead_at_start = 0.0  # of which before training started (not in the training time)
        self.t0 = None
        self.step0 = 0

    def prepare(self, state) -> None:
        """Set the horizon of a new run, keep a resumed one's unless the budget changed."""
        if self.cfg.max_wall_s <= 0:  # no budget: the run follows ``steps``, nothing to keep
            state.horizon, state.horizon_of = 0, []
            return
        key = [float(self.cfg.steps), float(self.cfg.max_wall_s)]
        if state.horizon_of != key:  # a new run, or a resume with another budget
            state.horizon = 0
        state.horizon_of = key

    def total(self, state) -> int:
        """Steps the run trains to (``steps`` until the horizon is fixed)."""
        return state.horizon or self.cfg.steps

    def start(self, now: float, step: int) -> None:
        self.t0, self.step0 = now, step
        self.overhead_at_start = self.overhead_s

    def _training_s(self, now: float) -> float:
        """Seconds spent in training steps since ``start``: the evaluations and checkpoints
        since then taken out (the step-0 evaluation came before ``start``)."""
        return now - self.t0 - (self.overhead_s - self.overhead_at_start)

    def add_overhead(self, seconds: float) -> None:
        self.overhead_s += seconds
        self.overhead_n += 1

    def _fit(self, state, now: float, elapsed_s: float) -> int:
        train_s = max(self._training_s(now), 1e-9)
        rate = (state.step - self.step0) / train_s
        eval_s = self.overhead_s / max(self.overhead_n, 1)
        every = min(self.cfg.eval_every, self.cfg.ckpt_every or self.cfg.eval_every)
        return fit_steps(state.step, elapsed_s, rate, eval_s, every, self.cfg.max_wall_s, self.cfg.steps)

    def after_step(self, state, now: float, elapsed_s: float) -> bool:
        """Fix the horizon once calibrated; True when it changed."""
        if self.cfg.max_wall_s <= 0 or state.horizon or self.t0 is None:
            return False
        if state.step - self.step0 < CALIBRATE_STEPS * (5 if self.agree else 1):
            return False
        if self.agree is None and self._training_s(now) < CALIBRATE_S:
            return False
        state.horizon = self._agreed(self._fit(state, now, elapsed_s))
        return True

    def _agreed(self, h: int) -> int:
        return h if self.agree is None else int(self.agree(h))

    def due(self, state) -> bool:
        """Whether this step re-estimates between checkpoints: every 1/REESTIMATES of the
        horizon, counted in steps (the same steps on every rank and in every resume)."""
        h = state.horizon
        return bool(h) and self.cfg.max_wall_s > 0 and state.step % max(1, h // REESTIMATES) == 0

    def reestimate(self, state, now: float, elapsed_s: float) -> bool:
        """Re-estimate while the schedule is still constant; True when the horizon changed."""
        h = state.horizon
        if self.cfg.max_wall_s <= 0 or not h or self.t0 is None or state.step >= h:
            return False
        if self.cfg.lr_schedule != "constant" and state.step >= self.cfg.decay_start * h:
            return False
        if state.step - self.step0 < CALIBRATE_STEPS:
            return False
        state.horizon = self._agreed(max(state.step + 1, self._fit(state, now, elapsed_s)))
        return state.horizon != h

"""Error types. A :class:`GankitError` is the user's mistake: the CLI prints its one-line
message and exits with code 2, without a traceback."""

import difflib
from collections.abc import Iterable


class GankitError(Exception):
    """Bad input that the user can fix; the message names the problem and the fix."""


class ConfigError(GankitError, ValueError):
    """A config key, value or combination that is not allowed."""


class DataError(GankitError):
    """Missing, corrupt or unreadable data files."""


class CheckpointError(GankitError):
    """A missing, corrupt, foreign or unsafe checkpoint."""


class DivergenceError(GankitError):
    """Training produced NaN or inf."""


def require(cond: bool, key: str, allowed: str, *, owner: object, prefix: str = "") -> None:
    """Unless ``cond``: ConfigError naming ``key``, its value on ``owner`` and what is allowed,
    e.g. ``batch_size=0 is out of range; allowed: an integer >= 1``."""
    if not cond:
        raise ConfigError(f"{prefix}{key}={getattr(owner, key)!r} is out of range; allowed: {allowed}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'grid'?)`` for the closest of ``choices`` to a mistyped ``name``
    (difflib's ratio >= 0.6, case-insensitive), else ``""``: appended to "unknown X" errors."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""

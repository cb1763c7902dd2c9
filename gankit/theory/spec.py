"""SPEC strings: a tiny language for distributions with densities, parsed without ``eval``.

Grammar (whitespace is ignored)::

    dist   := NAME "(" args ")"
    args   := number ("," number)*             for normal, uniform, laplace, normal2d
            | term ("," term)*                 for mix
    term   := number "*" dist
    number := [+-] digits [. digits] [e [+-] digits]

Families: ``normal(mean,std)``, ``uniform(a,b)``, ``laplace(loc,scale)``,
``normal2d(mx,my,sx,sy[,rho])`` and ``mix(w1*D1,w2*D2,...)`` (weights > 0 summing to 1).
A mistake raises :class:`ConfigError` naming the column and what was expected there.
"""

from __future__ import annotations

import math
import re

from gankit.errors import ConfigError
from gankit.theory.distributions import Distribution, Laplace, Mixture, Normal, Normal2D, Uniform

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def _check_normal2d(a):
    if a[2] <= 0 or a[3] <= 0:
        return "sx and sy must be > 0"
    if len(a) == 5 and not abs(a[4]) < 1:
        return "rho must be in (-1, 1)"
    return True


# name -> (allowed numbers of parameters, their names, constructor, check -> True or the problem)
FAMILIES = {
    "normal": ((2,), "mean,std", lambda a: Normal(*a), lambda a: a[1] > 0 or "std must be > 0"),
    "uniform": ((2,), "a,b", lambda a: Uniform(*a), lambda a: a[1] > a[0] or "needs a < b"),
    "laplace": ((2,), "loc,scale", lambda a: Laplace(*a), lambda a: a[1] > 0 or "scale must be > 0"),
    "normal2d": ((4, 5), "mx,my,sx,sy[,rho]", lambda a: Normal2D(*a), _check_normal2d),
}
NAMES = (*FAMILIES, "mix")


class _Parser:
    """Recursive descent over the string ``text``; ``pos`` is the next unread character."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None):
        pos = self.pos if pos is None else pos
        marked = f"{self.text[:pos]}>>{self.text[pos:]}"
        raise ConfigError(f"bad distribution SPEC at column {pos + 1} ('{marked}'): {message}")

    def skip(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str):
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            self.fail(f"expected {char!r}, found {found}")
        self.pos += 1

    def number(self) -> float:
        self.skip()
        m = _NUMBER.match(self.text, self.pos)
        if not m:
            self.fail("expected a number")
        value = float(m.group(0))
        if not math.isfinite(value):
            self.fail("number out of range")
        self.pos = m.end()
        return value

    def dist(self) -> Distribution:
        self.skip()
        start = self.pos
        m = _NAME.match(self.text, self.pos)
        if not m:
            self.fail(f"expected a distribution name ({', '.join(NAMES)})")
        name = m.group(0)
        if name not in NAMES:
            self.fail(f"unknown distribution {name!r}; choose one of: {', '.join(NAMES)}")
        self.pos = m.end()
        self.expect("(")
        if name == "mix":
            return self.mixture(start)
        counts, params, build, check = FAMILIES[name]
        args = [self.number()]
        while self.peek() == ",":
            self.pos += 1
            args.append(self.number())
        self.expect(")")
        if len(args) not in counts:
            self.fail(f"{name} takes ({params}), got {len(args)} numbers", start)
        ok = check(args)
        if ok is not True:
            self.fail(f"{name}({params}): {ok}", start)
        return build(args)

    def mixture(self, start: int) -> Mixture:
        weights, comps = [], []
        while True:
            wpos = self.pos
            w = self.number()
            if w <= 0:
                self.fail("mixture weights must be > 0", wpos)
            self.expect("*")
            comps.append(self.dist())
            weights.append(w)
            if self.peek() != ",":
                break
            self.pos += 1
        self.expect(")")
        if abs(sum(weights) - 1.0) > 1e-6:
            self.fail(f"mixture weights sum to {sum(weights):g}, not 1", start)
        if len({c.dim for c in comps}) > 1:
            self.fail("mixture components must all have the same dimension", start)
        return Mixture(weights, comps)


def parse_spec(text: str) -> Distribution:
    """The distribution a SPEC string describes; ConfigError pointing at the bad part if any."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("empty distribution SPEC; e.g. normal(0,1) or uniform(-1,1)")
    parser = _Parser(text)
    d = parser.dist()
    if parser.peek():
        parser.fail("unexpected text after the distribution")
    return d

"""Name -> component registries.

A component registers itself where it is defined::

    @OBJECTIVES.register("ns", options=NSOptions)
    class NonSaturating(Objective): ...

``options`` is a dataclass of the component's own settings; the config keeps them under
``<kind>_args`` and checks every key against it, so a new component needs no edit elsewhere.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from gankit.errors import ConfigError, did_you_mean
from gankit.typed import coerce_dataclass


def first_sentence(doc: str) -> str:
    """The first whole sentence of a docstring's first paragraph, on one line: it ends at a
    period followed by a capital letter (not after an abbreviation such as "sec." or "al.")
    or at the paragraph's end."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    for m in re.finditer(r"[.!?]\)?\s+(?=[A-Z])", paragraph):
        word = paragraph[: m.start()].rsplit(" ", 1)[-1].lstrip("(").lower()
        if word not in _ABBREVIATIONS:
            return paragraph[: m.end()].rstrip()
    return paragraph


# Words whose period does not end a sentence in the docstrings' citations.
_ABBREVIATIONS = {"sec", "secs", "eq", "eqs", "fig", "al", "e.g", "i.e", "cf", "vs", "app", "ch", "no"}


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    options: type | None
    summary: str
    presets: tuple = ()  # gankit.presets.Preset: tuned defaults, the first that applies is used


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, options: type | None = None, summary: str | None = None, presets=None):
        """``presets``: a :class:`gankit.presets.Preset` or a sequence of them, tuned for this
        component (see gankit/presets.py for how they compose)."""
        from gankit.presets import as_presets

        def deco(factory):
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            doc = summary or first_sentence(factory.__doc__ or "")
            self._entries[name] = Entry(name, factory, options, doc, as_presets(presets))
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            hint = did_you_mean(name, self.names())
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self.names())}")
        return self._entries[name]

    def default_options(self, name: str) -> dict[str, Any]:
        entry = self.get(name)
        return dataclasses.asdict(entry.options()) if entry.options else {}

    def resolve_options(self, name: str, given: dict[str, Any] | None) -> Any:
        """Merge ``given`` over the defaults; unknown keys and wrong types raise ConfigError."""
        entry = self.get(name)
        given = dict(given or {})
        if entry.options is None:
            if given:
                raise ConfigError(f"{self.kind} {name!r} takes no options, got {sorted(given)}")
            return None
        return coerce_dataclass(entry.options, given, where=f"{self.kind} {name!r}")

    def build(self, name: str, *args, **kwargs):
        return self.get(name).factory(*args, **kwargs)

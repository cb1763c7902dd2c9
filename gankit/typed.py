"""Typed values from text: a CLI string (``--set model.width=64``) or a JSON value becomes the
type a dataclass field declares, or a one-line ConfigError names the key and what is expected.
Used by the run config and by every component's options dataclass."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any

from gankit.errors import ConfigError, did_you_mean


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` (possibly a CLI string) to ``annotation``; raise ConfigError if not."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be None")
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
            try:
                f = float(value)
                if f.is_integer():
                    return int(f)
            except ValueError:
                pass
        raise ConfigError(f"{key}={value!r}: expected an integer")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected a number")
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r}: expected a number") from None
        else:
            raise ConfigError(f"{key}={value!r}: expected a number")
        if not math.isfinite(out):
            raise ConfigError(f"{key}={value!r}: must be a finite number")
        return out
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}={value!r}: expected a string")
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected {len(args)} comma-separated values")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r}: expected {len(args)} comma-separated values")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin is list:
        if isinstance(value, str):
            value = [v for v in value.strip("[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected a comma-separated list")
        return [_coerce(v, args[0], key) for v in value]
    if origin is dict:
        if isinstance(value, str):
            value = parse_mapping(value, key)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r}: expected name=value pairs")
        if not args:
            return dict(value)
        return {_coerce(k, args[0], key): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if annotation is dict:
        if isinstance(value, dict):
            return dict(value)
        raise ConfigError(f"{key}={value!r}: expected a mapping")
    raise ConfigError(f"{key}: unsupported type {annotation}")


def parse_mapping(text: str, key: str) -> dict[str, str]:
    """``"gp=10,drift=0.001"`` -> ``{"gp": "10", "drift": "0.001"}``; ``"none"`` -> ``{}``."""
    text = text.strip()
    if text.lower() in ("", "none", "{}"):
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{key}: invalid JSON ({e})") from None
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"{key}={text!r}: expected name=value pairs such as gp=10")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def coerce_dataclass(cls: type, given: dict[str, Any], where: str) -> Any:
    """Build ``cls(**given)`` with type conversion; unknown keys name the valid ones."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} for {where}{did_you_mean(unknown[0], names)}; "
            f"valid options: {', '.join(names) or 'none'}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where} option {k}") for k, v in given.items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
    check = getattr(obj, "check", None)
    if check is not None:
        check()
    return obj

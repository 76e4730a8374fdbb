"""Typed configs: OmegaConf structured dataclasses merged with YAML files and `key=value` overrides.

A key that the dataclass does not declare, or a value of the wrong type, fails loudly with a message that names it.
OmegaConf has no `Literal`, so fixed choices and ranges are declared in each field's metadata and checked here, once,
when the config is built (`check_fields`); the metadata are plain data, so `priors` declares them too:

    weighting: str = field(default="uniform", metadata={"choices": ("uniform", "sds", "fantasia")})
    steps: int = field(default=1200, metadata={"min": 1})
    fps: float = field(default=30.0, metadata={"gt": 0})          # strictly greater ("lt": strictly less)
    radius: list[float] = field(default_factory=..., metadata={"pair": True, "gt": 0})  # [low, high], low <= high
    betas: list[float] = field(default_factory=..., metadata={"length": 2, "min": 0, "lt": 1})  # each value
    preview_size: int = field(default=96, metadata={"min": 8, "render_size": True})  # pixels a side, memory-bounded
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dreamavatar.errors import UserError

T = TypeVar("T")


def read_yaml(path: str | Path, what: str = "config file") -> DictConfig:
    """A YAML mapping, or one message naming the file and the line that does not parse."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist: give the path of a YAML file")
    try:
        data = OmegaConf.load(path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{what} {path} is not valid YAML ({problem}{where}): fix its syntax") from None
    except (OSError, UnicodeDecodeError, OmegaConfBaseException) as e:
        raise UserError(f"{what} {path} cannot be read as YAML ({' '.join(str(e).split())[:120]}): fix it") from None
    if not isinstance(data, DictConfig):
        raise UserError(f"{what} {path} holds a list, not `key: value` lines: write it as a mapping")
    return data


def load_config(
    cls: type[T],
    yaml_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    upgrade: Optional[Callable[[dict], dict]] = None,
    layers: Sequence[Mapping[str, Any]] = (),
    what: str = "config file",
) -> T:
    """Build a `cls` instance from its defaults, then each YAML file, then each mapping of `layers` (values a command
    computed, e.g. the parsed spec or its own options: strings stay exactly as given, where a dotlist would fold a
    newline into a space), then `key=value` overrides (in that order), and check its choices and ranges. `upgrade`
    turns each file's (and the overrides') mapping from an older layout into the current one."""
    base = OmegaConf.structured(cls)

    def read(node):
        if upgrade is None or not isinstance(node, DictConfig):
            return node
        return OmegaConf.create(upgrade(OmegaConf.to_container(node)))

    try:
        for f in yaml_files:
            base = OmegaConf.merge(base, read(read_yaml(f, what)))
        for layer in layers:
            base = OmegaConf.merge(base, OmegaConf.create(dict(layer)))
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise UserError(f"override {bad[0]!r} is not key=value: write it as e.g. train.lr=0.001")
        if overrides:
            base = OmegaConf.merge(base, read(OmegaConf.from_dotlist(list(overrides))))
        cfg = OmegaConf.to_object(base)
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None)
        where = f" at {key}" if key else ""
        raise UserError(f"bad config{where}: {msg} (check the key's spelling and type against `{cls.__name__}`)") from None
    check_fields(cfg)
    return cfg  # type: ignore[return-value]


def closest(value: str, allowed: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.5)
    return found[0] if found else None


def choice_error(key: str, value: Any, allowed: Sequence[str]) -> UserError:
    """`key=value` is not one of `allowed`: name them and the closest one."""
    near = closest(str(value), allowed)
    hint = f" (did you mean {key}={near}?)" if near else ""
    return UserError(f"{key}={value} is not a choice: use one of {', '.join(map(str, allowed))}{hint}")


def check_fields(cfg: object, prefix: str = "") -> None:
    """Check every field's declared choices and ranges (see the module docstring), through nested dataclasses and
    lists of them."""
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value, key = getattr(cfg, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            check_fields(value, key + ".")
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            for i, item in enumerate(value):
                check_fields(item, f"{key}[{i}].")
        if value is not None and f.metadata:
            check_value(key, value, f.metadata)


def check_value(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    if "choices" in meta and value not in meta["choices"] and not re.fullmatch(meta.get("pattern", "$^"), str(value)):
        raise choice_error(key, value, meta["choices"])
    if "pair" in meta and (len(value) != 2 or not value[0] <= value[1]):
        raise UserError(f"{key}={list(value)} must be [low, high] with low <= high: e.g. {key}=[1.0,2.0]")
    if "length" in meta and len(value) != meta["length"]:
        raise UserError(f"{key}={list(value)} must hold {meta['length']} values")
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            _check_number(key, v, meta)
    if "render_size" in meta:
        from renderers.memory import check_render_size

        check_render_size(int(value), int(value), key)


def _check_number(key: str, v: float, meta: Mapping[str, Any]) -> None:
    if isinstance(v, float) and math.isnan(v):
        raise UserError(f"{key}={v} is not a number: give a value")
    lo, hi, gt, lt = meta.get("min"), meta.get("max"), meta.get("gt"), meta.get("lt")
    wants = []
    if lo is not None:
        wants.append((v >= lo, f"at least {lo}"))
    if gt is not None:
        wants.append((v > gt, f"greater than {gt}"))
    if hi is not None:
        wants.append((v <= hi, f"at most {hi}"))
    if lt is not None:
        wants.append((v < lt, f"less than {lt}"))
    if not all(ok for ok, _ in wants):
        raise UserError(f"{key}={v} is out of range: give a value {' and '.join(w for _, w in wants)}")


def save_config(cfg: object, path: str | Path) -> None:
    """Write a config dataclass as YAML (atomically)."""
    from dreamavatar.io import atomic_write

    text = OmegaConf.to_yaml(OmegaConf.structured(cfg)).encode()
    atomic_write(path, lambda f: f.write(text))

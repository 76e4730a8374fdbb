"""Typed configs: OmegaConf structured dataclasses merged with YAML files and `key=value` overrides.

A key that the dataclass does not declare, or a value of the wrong type, fails loudly with a message that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dreamavatar.errors import UserError

T = TypeVar("T")


def load_config(
    cls: type[T],
    yaml_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    upgrade: Optional[Callable[[dict], dict]] = None,
    layers: Sequence[dict] = (),
) -> T:
    """Build a `cls` instance from its defaults, then each YAML file, then each mapping of `layers` (values a command
    computed, e.g. the parsed spec), then `key=value` overrides (in that order). `upgrade` turns each file's (and the
    overrides') mapping from an older layout into the current one."""
    base = OmegaConf.structured(cls)

    def read(node):
        if upgrade is None or not isinstance(node, DictConfig):
            return node
        return OmegaConf.create(upgrade(OmegaConf.to_container(node)))

    try:
        for f in yaml_files:
            if not Path(f).is_file():
                raise UserError(f"config file {f} does not exist: give the path of a YAML file")
            base = OmegaConf.merge(base, read(OmegaConf.load(f)))
        for layer in layers:
            base = OmegaConf.merge(base, OmegaConf.create(layer))
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise UserError(f"override {bad[0]!r} is not key=value: write it as e.g. train.lr=0.001")
        if overrides:
            base = OmegaConf.merge(base, read(OmegaConf.from_dotlist(list(overrides))))
        return OmegaConf.to_object(base)  # type: ignore[return-value]
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None)
        where = f" at {key}" if key else ""
        raise UserError(f"bad config{where}: {msg} (check the key's spelling and type against `{cls.__name__}`)") from None


def save_config(cfg: object, path: str | Path) -> None:
    """Write a config dataclass as YAML (atomically)."""
    from dreamavatar.io import atomic_write

    text = OmegaConf.to_yaml(OmegaConf.structured(cfg)).encode()
    atomic_write(path, lambda f: f.write(text))

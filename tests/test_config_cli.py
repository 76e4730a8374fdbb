"""The typed config loader and the command line's error contract."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from dreamavatar.cli import main
from dreamavatar.config import load_config, save_config
from dreamavatar.errors import UserError


@dataclass
class _Inner:
    lr: float = 1e-3
    steps: int = 100


@dataclass
class _Cfg:
    name: str = "x"
    train: _Inner = field(default_factory=_Inner)


def test_overrides_and_yaml_merge_in_order(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("train:\n  steps: 7\nname: from_yaml\n")
    cfg = load_config(_Cfg, [y], ["train.lr=0.5", "name=cli"])
    assert isinstance(cfg, _Cfg) and isinstance(cfg.train, _Inner)
    assert (cfg.name, cfg.train.steps, cfg.train.lr) == ("cli", 7, 0.5)


@pytest.mark.parametrize(
    "overrides, words",
    [(["train.lrr=1"], "lrr"), (["train.steps=many"], "steps"), (["nokeyvalue"], "key=value")],
)
def test_bad_overrides_fail_loudly(overrides, words):
    with pytest.raises(UserError, match=words):
        load_config(_Cfg, [], overrides)


def test_missing_yaml_names_the_file(tmp_path):
    with pytest.raises(UserError, match="nope.yaml"):
        load_config(_Cfg, [tmp_path / "nope.yaml"])


def test_save_config_round_trip(tmp_path):
    cfg = load_config(_Cfg, [], ["train.steps=3"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(_Cfg, [tmp_path / "config.yaml"]).train.steps == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "dreamavatar", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "dreamavatar" in out.stdout

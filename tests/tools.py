"""Markers for tests that need an outside program (Blender, node, chromium): they skip, naming the install, unless
DREAMAVATAR_REQUIRE_TOOLS=1 (set by .ci/run, which installs them all), where a missing program fails the test."""

from __future__ import annotations

import os

import pytest

REQUIRE = os.environ.get("DREAMAVATAR_REQUIRE_TOOLS") == "1"


def needs(available: bool, reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not available and not REQUIRE, reason=reason)

"""Process tuning helpers."""
from __future__ import annotations

import sys

from paco_torchrl.training.system import tune_malloc


def test_tune_malloc_applies_on_linux():
    assert tune_malloc() is sys.platform.startswith("linux")

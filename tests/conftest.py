"""Test-wide settings: one torch thread (small networks, 2-core CI, no oversubscription)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
RECIPES = Path(__file__).resolve().parents[1] / "recipes"
if str(RECIPES) not in sys.path:
    sys.path.insert(0, str(RECIPES))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

"""Test-wide settings: one torch thread (small networks, 2-core CI, no oversubscription)."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

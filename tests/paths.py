"""Paths of the checkout that tests read: the recipes' YAML configs and scripts (run as subprocesses only)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
MT10_CONFIG = RECIPES / "configs" / "mt10_rand.yaml"
SUBSPACE_CONFIG = RECIPES / "configs" / "subspace_k2.yaml"
MT10_SCRIPT = RECIPES / "mt10_rand.py"

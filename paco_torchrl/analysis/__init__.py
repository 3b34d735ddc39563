"""Plots from run directories (``python -m paco_torchrl.analysis``)."""
from __future__ import annotations

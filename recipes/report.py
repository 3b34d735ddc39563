"""Markdown report of a sweep folder: the paper's Tables 1–3 with our numbers beside them.

    python recipes/report.py runs/table1                      # print
    python recipes/report.py runs/table1 --out report.md      # and write

The report is :func:`paco_torchrl.experiments.report.build_report`.
"""
from __future__ import annotations

import sys

from paco_torchrl.experiments.report import main

if __name__ == "__main__":
    sys.exit(main())

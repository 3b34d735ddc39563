"""The paper's MT10-rand numbers (Tables 1–3) and the config that reproduces each row."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's results on MT10-rand (success rate in %, mean ± std over 10 seeds).

    Attributes:
        table: ``"1"``, ``"2"``, ``"3a"`` (parameter-set size) or ``"3b"`` (compositional structure);
            ``"text"`` for a number quoted in the text only; ``"later"`` for a later method's own
            published number (not from the PaCo paper).
        method: the paper's name for the row.
        overrides: the ``key=value`` overrides of ``recipes/mt10_rand.py`` that give this row.
        variant: our variant name of those overrides (see
            :func:`~paco_torchrl.experiments.variant_label`): the key that joins a row to runs.
        mean: reported mean success (%).
        std: reported standard deviation over seeds (%), ``None`` where none is given.

    Examples:
        >>> [r.variant for r in PAPER_ROWS if r.table == "3a"]
        ['paco K=3', 'paco', 'paco K=8', 'paco K=10 w_init=one_hot']
    """

    table: str
    method: str
    overrides: tuple[str, ...]
    variant: str
    mean: float
    std: float | None


_PACO = ("algo=paco",)

PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("1", "Multi-Task SAC", ("algo=mtsac",), "mtsac", 62.9, 8.0),
    PaperRow("1", "Multi-Head SAC", ("algo=mhsac",), "mhsac", 62.0, 8.2),
    PaperRow("1", "SAC + FiLM", ("algo=film",), "film", 58.3, 4.3),
    PaperRow("1", "PCGrad", ("algo=pcgrad",), "pcgrad", 61.7, 10.9),
    PaperRow("1", "Soft-Module", ("algo=soft_modules",), "soft_modules", 63.0, 4.2),
    PaperRow("1", "CARE", ("algo=care",), "care", 76.0, 6.9),
    PaperRow("1", "PaCo", _PACO, "paco", 85.4, 4.5),
    PaperRow("text", "Single-Task SAC (2M frames per task, §6.1)", ("algo=single_task",), "single_task", 61.9, None),
    PaperRow("2", "PaCo (maskout + w-reset)", _PACO, "paco", 85.4, 4.5),
    PaperRow("2", "PaCo-Maskout", ("algo=paco_maskout",), "paco_maskout", 76.0, 8.8),
    PaperRow("2", "PaCo-Vanilla", ("algo=paco_vanilla",), "paco_vanilla", 71.6, 25.7),
    PaperRow("3a", "PaCo (K=3)", (*_PACO, "paco.num_param_sets=3"), "paco K=3", 74.4, 5.1),
    PaperRow("3a", "PaCo (K=5)", _PACO, "paco", 85.4, 4.5),
    PaperRow("3a", "PaCo (K=8)", (*_PACO, "paco.num_param_sets=8"), "paco K=8", 81.0, 8.4),
    PaperRow(
        "3a", "PaCo (K=10, one-hot w init)", (*_PACO, "paco.num_param_sets=10", "paco.w_init=one_hot"),
        "paco K=10 w_init=one_hot", 88.9, 1.9,
    ),
    PaperRow("3b", "Output-only", (*_PACO, "paco.scope=output"), "paco scope=output", 64.0, 5.5),
    PaperRow("3b", "Actor-only", (*_PACO, "paco.scope=actor"), "paco scope=actor", 73.3, 5.8),
    PaperRow("3b", "AC-shared (PaCo)", _PACO, "paco", 85.4, 4.5),
    # not in the PaCo paper: MOORE's own MT10-rand result (Hendawy et al., ICLR 2024)
    PaperRow("later", "MOORE (Hendawy et al., 2024; its own paper)", ("algo=moore",), "moore", 88.7, None),
)

TABLE_TITLES = {
    "1": "Table 1: MT10-rand baselines",
    "text": "Quoted in §6.1 (not in a table)",
    "2": "Table 2: stabilisation (loss maskout, w-reset)",
    "3a": "Table 3(a): parameter-set size K",
    "3b": "Table 3(b): compositional structure",
    "later": "Later methods (their own papers' MT10-rand numbers, not the PaCo paper's runs)",
}


def rows_of_tables(tables: list[str]) -> list[PaperRow]:
    """The rows of the given tables (``"3"`` means 3a and 3b; ``"1"`` includes the §6.1 single-task
    number; ``"later"`` gives the later methods), one per distinct variant, in the paper's order.

    Examples:
        >>> [r.variant for r in rows_of_tables(["2"])]
        ['paco', 'paco_maskout', 'paco_vanilla']
    """
    wanted = set()
    for t in tables:
        wanted |= {"1": {"1", "text"}, "3": {"3a", "3b"}}.get(t, {t})
    unknown = wanted - set(TABLE_TITLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; choose from 1, 2, 3, 3a, 3b, later")
    seen: dict[str, PaperRow] = {}
    for row in PAPER_ROWS:
        if row.table in wanted:
            seen.setdefault(row.variant, row)
    return list(seen.values())

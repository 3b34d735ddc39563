"""The training command line: ``key=value`` overrides of a YAML config, ``--help``, one-line errors.

``recipes/mt10_rand.py`` and ``recipes/mt50_rand.py`` are ``sys.exit(main(<their YAML>))``.
Exit codes: 0 done, 2 bad configuration or checkpoint (one line on stderr, nothing started),
3 collection failed (:class:`~paco_torchrl.training.loop.EnvFailure`; a checkpoint was written),
4 a checkpoint could not be written (the previous one is intact), 128 + N stopped by signal N (130
SIGINT, 143 SIGTERM, 138/140 SIGUSR1/2) after writing a checkpoint; the line printed says how to resume.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from paco_torchrl.algos.schema import documented_fields
from paco_torchrl.training.checkpoint import CheckpointError, CheckpointWriteError
from paco_torchrl.training.config import ConfigError, RunConfig, load_config, validate_config
from paco_torchrl.training.loop import EnvFailure, train
from paco_torchrl.training.signals import Interrupted

HELP_FLAGS = ("-h", "--help")


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def help_text(config: str | Path | None = None, prog: str = "train") -> str:
    """Every config key, grouped by section, with its default (``config``'s value, if given) and its doc.

    Examples:
        >>> text = help_text()
        >>> "paco.num_param_sets = 5" in text and "[paco]" in text
        True
    """
    values: DictConfig | None = load_config(config) if config is not None else None
    lines = [
        f"usage: {prog} [-h] [key=value ...]",
        "",
        "Trains one run. Every key below can be set as key=value (lists as [a,b]); defaults are "
        + (f"those of {config}." if config is not None else "the schema's."),
        "resume=<run_dir> continues a run from its checkpoint with its own settings.",
    ]
    section = None
    rows = []
    for key, default, doc, choices in documented_fields(RunConfig):
        name = key.split(".")[0] if "." in key else ""
        if name != section:
            rows.append((None, f"[{name}]" if name else "[run]"))
            section = name
        value = OmegaConf.select(values, key) if values is not None else default
        if isinstance(value, DictConfig) or OmegaConf.is_list(value):
            value = OmegaConf.to_container(value)
        rows.append((f"  {key} = {_show(value)}", doc))
    width = max(len(left) for left, _ in rows if left is not None)
    for left, doc in rows:
        lines.append("" if left is None else f"{left.ljust(width)}  {doc}")
        if left is None:
            lines.append(doc)
    return "\n".join(lines) + "\n"


def recipe_script(config: str | Path | None, recipe: str | Path | None = None) -> str:
    """The recipe script that resumes a run: ``recipe`` if given, else the script beside ``config``'s folder.

    A recipe's YAML lives in ``configs/`` beside it (``recipes/configs/mt10_rand.yaml`` belongs to
    ``recipes/mt10_rand.py``), so the name is right however the training was started (the recipe's
    command line, a sweep in its own process, a launcher's worker); ``sys.argv[0]`` is used only
    when there is no such script.

    Examples:
        >>> recipe_script("recipes/configs/mt50_rand.yaml")
        'recipes/mt50_rand.py'
    """
    if recipe is not None:
        return str(recipe)
    if config is not None:
        config = Path(config)
        if config.parent.name == "configs":
            return str(config.parent.parent / f"{config.stem}.py")
    return sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else "recipes/mt10_rand.py"


def main(config: str | Path | None = None, argv: Sequence[str] | None = None,
         recipe: str | Path | None = None) -> int:
    """Command line: ``key=value`` overrides of ``config``; bad input gets one line and exit code 2.

    Args:
        config: the recipe's YAML.
        argv: the ``key=value`` arguments (``sys.argv[1:]`` if ``None``).
        recipe: the script named in the resume line of an interrupted run (default:
            :func:`recipe_script` of ``config``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg in HELP_FLAGS for arg in argv):
        print(help_text(config, Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "train"), end="")
        return 0
    try:
        cfg = load_config(config, argv)
        if cfg.resume is not None and (Path(cfg.resume) / "config.yaml").is_file():
            cfg = load_config(Path(cfg.resume) / "config.yaml", argv)  # the run's own settings + overrides
        validate_config(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        results = train(cfg)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EnvFailure as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except CheckpointWriteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    except Interrupted as err:
        print(f"{err}; resume with: python {recipe_script(config, recipe)} resume={err.run_dir}", file=sys.stderr)
        return err.exit_code
    print(f"mean success {results['mean_success']:.3f} after {results['frames']} frames")
    return 0

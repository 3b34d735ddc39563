"""Variant names of runs: ``algo`` plus the non-default keys its networks read (what reports group by)."""
from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from paco_torchrl.algos import ALGOS
from paco_torchrl.training.config import RunConfig


def variant_label(cfg: DictConfig) -> str:
    """The name of a run's variant: ``algo`` plus its non-default structure keys (and ``loss``).

    Defaults are the schema's (:class:`~paco_torchrl.algos.PaCoConfig`); ``K`` stands
    for ``paco.num_param_sets``. Keys an algo does not read are ignored (``mtsac`` is ``mtsac``
    whatever ``paco.num_param_sets`` says).

    Examples:
        >>> from paco_torchrl.training import load_config
        >>> variant_label(load_config(None, ["paco.num_param_sets=10", "paco.w_init=one_hot"]))
        'paco K=10 w_init=one_hot'
        >>> variant_label(load_config(None, ["algo=mtsac", "paco.num_param_sets=3"]))
        'mtsac'
        >>> variant_label(load_config(None, ["eval.goals=held_out"]))
        'paco eval=held_out'
    """
    defaults = OmegaConf.structured(RunConfig)
    parts = [cfg.algo]
    algo = ALGOS.get(cfg.algo)
    for key in algo.structure_keys if algo is not None else ():
        path = key if "." in key else f"paco.{key}"
        value = OmegaConf.select(cfg, path)
        if value != OmegaConf.select(defaults, path):
            name = "K" if key == "num_param_sets" else key.split(".")[-1]
            parts.append(f"{name}={str(value).lower() if isinstance(value, bool) else value}")
    if cfg.get("loss", "sac") != "sac":  # another RL loss than SAC makes another variant
        parts.append(f"loss={cfg.loss}")
    goals = OmegaConf.select(cfg, "eval.goals", default="train")
    if goals != "train":  # success on another goal set is another number: reported apart
        parts.append(f"eval={goals}")
    return " ".join(parts)


def variant_dir(label: str) -> str:
    """Folder name of a variant: ``"paco K=10 w_init=one_hot"`` -> ``"paco_K-10_w_init-one_hot"``.

    Examples:
        >>> variant_dir("paco K=10 w_init=one_hot")
        'paco_K-10_w_init-one_hot'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace("=", "-").replace(" ", "_"))

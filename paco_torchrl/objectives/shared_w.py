"""One shared-``W`` mechanism for TorchRL losses: the ``W`` entries of their functional parameters.

A TorchRL loss trains functional copies of its networks' parameters. A compositional-vector
table ``W`` (:class:`~paco_torchrl.nn.TaskWeights`) shared by several networks (the actor and
the critics, or several critics) appears there as an expanded view of one Parameter, and target
copies of ``W`` are separate tensors. :class:`SharedTaskWeights` keeps that arrangement true for
any loss: it finds every ``W`` entry, lists them for :class:`~paco_torchrl.objectives.WReset`,
copies the live ``W`` into the targets (the original code's target critics hold no ``W`` of
their own), and re-ties the views after a device/dtype cast or a ``load_state_dict``.
:class:`~paco_torchrl.objectives.MultiTaskSACLoss` and :class:`~paco_torchrl.objectives.PerTaskLoss`
both use it.
"""
from __future__ import annotations

import gc
from collections.abc import Iterable

import torch
from tensordict import TensorDictBase
from torch import nn
from torchrl.objectives import LossModule

from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives.torchrl_private import erase_cache, set_params_entry

Entry = tuple[str, tuple[str, ...]]  # (network name, e.g. "qvalue_network"; key in its params)


def base_tensor(t: torch.Tensor) -> torch.Tensor:
    """The tensor that owns the memory of an expanded view (writes go there once), else ``t``.

    Examples:
        >>> w = torch.zeros(3, 2)
        >>> base_tensor(w.expand(4, 3, 2)) is w, base_tensor(w) is w
        (True, True)
    """
    if t._base is not None and 0 in t.stride():
        return t._base
    return t


class SharedTaskWeights:
    """The ``W`` entries of ``loss``'s functional parameters for ``networks``, kept tied and in sync.

    An entry that is an expanded view of a Parameter (TorchRL expands a parameter shared with
    another network, or by all members of an ensemble, instead of copying it) is *shared*: that
    Parameter is its source, and :meth:`tie` points the entry back at it after anything that
    replaced the view by a copy.

    Args:
        loss: the TorchRL loss holding ``<network>_params`` (and ``target_<network>_params``).
        networks: names of its networks to scan (``"qvalue_network"``, ...).

    Keyword Args:
        sync_targets: :meth:`sync_targets_` copies the live ``W`` into the target copies.

    Examples:
        >>> from paco_torchrl.modules import make_paco_actor_critic
        >>> from torchrl.objectives import SACLoss
        >>> actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(8,))
        >>> sac = SACLoss(actor, qvalues, num_qvalue_nets=2)
        >>> shared = SharedTaskWeights(sac, ["qvalue_network"])
        >>> sorted(shared.tensors())
        ['qvalue.module.net.task_weights.weight', 'target_qvalue.module.net.task_weights.weight']
        >>> [p is actor.module[0].module.net.task_weights.weight for p in shared.sources.values()]
        [True]
    """

    def __init__(self, loss: LossModule, networks: Iterable[str], *, sync_targets: bool = True) -> None:
        self.loss = loss
        self.sync_targets = sync_targets
        self.entries: list[Entry] = []
        self.sources: dict[Entry, nn.Parameter] = {}
        for name in networks:
            for path, module in getattr(loss, name).named_modules():
                if isinstance(module, TaskWeights):
                    key = (*path.split("."), "weight") if path else ("weight",)
                    self.entries.append((name, key))
                    value = self.params(name).get(key)
                    base = base_tensor(value)
                    if base is not value and isinstance(base, nn.Parameter):
                        self.sources[(name, key)] = base

    def params(self, name: str) -> TensorDictBase:
        """The trained functional parameters of network ``name``."""
        return getattr(self.loss, f"{name}_params")

    def targets(self) -> dict[str, TensorDictBase]:
        """``{network name: target params}`` of the scanned networks that have target copies."""
        names = dict.fromkeys(name for name, _ in self.entries)
        return {
            name: self.loss._modules[f"target_{name}_params"]
            for name in names
            if f"target_{name}_params" in self.loss._modules
        }

    def unregistered_sources(self) -> list[nn.Parameter]:
        """Shared Parameters that no network of the loss registers (an optimizer must still see them)."""
        known = {id(p) for p in self.loss.parameters()}
        unique = {id(p): p for p in self.sources.values() if id(p) not in known}
        return list(unique.values())

    def tensors(self) -> dict[str, torch.Tensor]:
        """``{"<network>.<path>": trained copy, "target_<network>.<path>": target copy}`` of every ``W``."""
        out: dict[str, torch.Tensor] = {}
        targets = self.targets()
        for name, key in self.entries:
            short = name.removesuffix("_network")
            out[f"{short}.{'.'.join(key)}"] = self.params(name).get(key)
            if name in targets:
                out[f"target_{short}.{'.'.join(key)}"] = targets[name].get(key)
        return out

    @torch.no_grad()
    def sync_targets_(self) -> None:
        """Copies the live ``W`` into every target copy (no-op unless ``sync_targets``)."""
        if not self.sync_targets:
            return
        targets = self.targets()
        for name, key in self.entries:
            if name in targets:
                targets[name].get(key).copy_(self.params(name).get(key))

    def untie(self) -> None:
        """Replaces the shared views by copies (a view cannot be loaded into); :meth:`tie` undoes it."""
        for name, key in self.sources:
            set_params_entry(self.params(name), key, self.params(name).get(key).clone())

    def refresh(self) -> None:
        """Points every shared entry at a new expanded view of its source (no copy), made now.

        TorchRL expands a shared ``W`` once, when the loss is built: the entry carries autograd history
        from then, and keeps ``W``'s gradient accumulator alive with the CUDA stream current then. A
        backward pass captured in a CUDA graph cannot wait on that stream (CUDA rejects the capture with
        ``cudaErrorStreamCaptureImplicit``). So the old view is dropped first (replaced by one without
        history), unreachable objects are collected (reference cycles of TensorDicts can hold the old
        view until the cyclic garbage collector runs), then a new one is made: when nothing else holds
        history reaching ``W`` (a TorchRL target updater's cached sources do, until dropped), its
        accumulator is made anew, on the stream of the call. :class:`~paco_torchrl.objectives.PaCoUpdateStep`
        drops those caches and calls this at the start of each call when it captures (``cudagraphs=True``):
        only the warm-up calls and the captured one run Python, so the collection costs nothing later.
        """
        shapes = {}
        for (name, key), source in self.sources.items():
            params = self.params(name)
            shapes[name, key] = params.get(key).shape
            set_params_entry(params, key, source.detach().expand(shapes[name, key]))
        if self.sources:
            gc.collect()
        for (name, key), source in self.sources.items():
            set_params_entry(self.params(name), key, source.expand(shapes[name, key]))

    def tie(self) -> None:
        """Points every shared entry back at an expanded view of its source, then drops cached views."""
        for (name, key), source in self.sources.items():
            current = self.params(name).get(key)
            if current.data_ptr() != source.data_ptr() or current.dtype != source.dtype:
                set_params_entry(self.params(name), key, source.expand(current.shape))
        erase_cache(self.loss)

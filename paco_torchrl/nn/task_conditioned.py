"""Plain (non-compositional) multi-task MLP: one network for all tasks, one-hot task id appended."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class OneHotTaskMLP(nn.Module):
    """``f([x, onehot(τ)])``: the multi-task SAC network (PaCo's K=1 special case with task input).

    Args:
        in_features: size of ``x``.
        out_features: output size.
        num_cells: hidden sizes.
        num_tasks: number of tasks ``T`` (length of the one-hot code).
        activation: activation class placed after every hidden layer.
        task_input: append the one-hot task id to the input (``False`` gives a
            single task-agnostic network).

    Examples:
        >>> import torch
        >>> mlp = OneHotTaskMLP(4, 2, num_cells=(8,), num_tasks=3)
        >>> mlp(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int] | int,
        num_tasks: int,
        activation: type[nn.Module] = nn.ReLU,
        *,
        task_input: bool = True,
    ) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.task_input = task_input
        sizes = [
            in_features + (num_tasks if task_input else 0),
            *((num_cells,) if isinstance(num_cells, int) else num_cells),
            out_features,
        ]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                layers.append(activation())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        if self.task_input:
            one_hot = torch.nn.functional.one_hot(task_id, self.num_tasks).to(x.dtype)
            x = torch.cat([x, one_hot], dim=-1)
        return self.net(x)

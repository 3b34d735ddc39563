"""Config-schema building blocks: documented fields with their choices, and one-line errors that name the key.

Every field of a config section is declared with :func:`option`: its default, a one-line doc
(printed by ``--help``) and, for a choice, the allowed values (checked by
:func:`check_choices`). The choices are ``typing.Literal`` aliases, defined once; their values
(``typing.get_args``) are what the schema and the validation use.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from omegaconf import DictConfig


class ConfigError(ValueError):
    """A bad configuration value (the message names the key)."""


def option(default: Any, doc: str, choices: Sequence[Any] | None = None) -> Any:
    """A schema field with a one-line ``doc`` and, optionally, its allowed ``choices``.

    A list default is copied for every instance (``default_factory``).

    Examples:
        >>> from dataclasses import dataclass, fields
        >>> @dataclass
        ... class Section:
        ...     mode: str = option("fast", "how to run", choices=("fast", "slow"))
        >>> fields(Section)[0].metadata["choices"]
        ('fast', 'slow')
    """
    metadata = {"doc": doc, "choices": None if choices is None else tuple(choices)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check(ok: bool, key: str, message: str) -> None:
    """Raises :class:`ConfigError` ``"<key>: <message>"`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: {message}")


def check_choices(section: DictConfig, schema: type, prefix: str = "") -> None:
    """Checks every field of ``schema`` declared with ``choices`` against ``section``'s value."""
    for f in dataclasses.fields(schema):
        choices = f.metadata.get("choices")
        if choices is not None:
            value = section[f.name]
            check(value in choices, f"{prefix}{f.name}", f"must be one of {choices}, got {value!r}")


def documented_fields(schema: type, prefix: str = "") -> Iterator[tuple[str, Any, str, tuple | None]]:
    """``(key, default, doc, choices)`` of every field of ``schema``, nested sections flattened."""
    for f in dataclasses.fields(schema):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            yield from documented_fields(type(default), f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", default, f.metadata.get("doc", ""), f.metadata.get("choices")

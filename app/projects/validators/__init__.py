"""Validators behind one interface (base.Validator) and a registry: adding one is adding a module
and listing it in MODULES."""
from __future__ import annotations

import importlib

from app.projects.validators.base import Validator

REGISTRY: dict[str, Validator] = {}
MODULES = ("schema", "sheriff", "gauntlet")


def register(cls: type[Validator]) -> type[Validator]:
    """Class decorator: one instance of the validator, under its name."""
    REGISTRY[cls.name] = cls()
    return cls


def all_validators() -> list[Validator]:
    """Every registered validator, in the order they run."""
    for module in MODULES:
        importlib.import_module(f"app.projects.validators.{module}")
    return [REGISTRY[name] for name in MODULES if name in REGISTRY]

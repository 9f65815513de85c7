"""Where objects come from: YAML files or a Kubernetes API server. Both yield `Update`s."""

from __future__ import annotations

from dataclasses import dataclass

from xdscp.model.problems import Problem
from xdscp.model.resources import Resources


@dataclass(frozen=True)
class Update:
    """A consistent view of every object, and every problem found on the way to it."""

    resources: Resources
    problems: tuple[Problem, ...]

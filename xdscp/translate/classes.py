"""Which Gateways are xdscp's: those whose GatewayClass names xdscp's controller.

In Kubernetes every Gateway's class is declared, or the Gateway is no one's yet. Files may
leave the class out: a Gateway whose class the files do not declare is served, so a file of
a Gateway and its routes works alone (`Options.undeclared_classes`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xdscp.gatewaystatus import ClassStatus
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, Resources
from xdscp.status import Condition
from xdscp.translate.routes import SOURCE


@dataclass(frozen=True)
class Sorted:
    ours: Resources  # the input with only xdscp's Gateways
    foreign: frozenset[Key]  # other controllers' Gateways, never served nor given status
    classes: tuple[ClassStatus, ...]  # xdscp's GatewayClasses
    problems: tuple[Problem, ...]  # why each Gateway left out is left out (warnings)


def sort_gateways(resources: Resources, controller: str, undeclared: bool) -> Sorted:
    """`undeclared`: whether a Gateway of a class no object declares is xdscp's."""
    classes = {name: c for (_, name), c in resources.gateway_classes.items()}
    foreign: dict[Key, str] = {}
    for key, gateway in resources.gateways.items():
        name = gateway.spec.gateway_class_name
        declared = classes.get(name)
        if declared is None:
            if not undeclared:
                foreign[key] = f"its GatewayClass {name!r} does not exist"
        elif declared.spec.controller_name != controller:
            foreign[key] = (
                f"its GatewayClass {name!r} is for controller "
                f"{declared.spec.controller_name!r}, not {controller!r}"
            )
    ours = resources
    if foreign:
        kept = {k: g for k, g in resources.gateways.items() if k not in foreign}
        ours = dataclasses.replace(resources, gateways=kept)
    accepted = Condition("Accepted", True, "Accepted", f"xdscp ({controller}) serves its Gateways")
    return Sorted(
        ours,
        frozenset(foreign),
        tuple(
            ClassStatus(name, c.metadata.generation, (accepted,))
            for name, c in classes.items()
            if c.spec.controller_name == controller
        ),
        tuple(
            Problem(
                resources.origin(resources.gateways[key], SOURCE),
                "Gateway",
                *key,
                "spec.gatewayClassName",
                f"not served: {why}",
                warning=True,
            )
            for key, why in foreign.items()
        ),
    )

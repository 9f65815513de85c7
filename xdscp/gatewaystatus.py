"""Gateway and HTTPRoute status as data, in Gateway API's words (condition types and reasons),
so the Kubernetes source can write it as is and file mode can print the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from xdscp.status import Condition

# The GatewayClass controllerName xdscp serves by default (`serve --controller-name`); the
# controllerName of its entries in routes' and policies' status.
CONTROLLER = "xdscp.dev/controller"


@dataclass(frozen=True)
class ClassStatus:
    """A GatewayClass of ours, and what xdscp says of it."""

    name: str
    generation: int
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class ListenerStatus:
    name: str
    attached_routes: int
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class GatewayStatus:
    namespace: str
    name: str
    generation: int
    conditions: tuple[Condition, ...]
    listeners: tuple[ListenerStatus, ...]


@dataclass(frozen=True)
class ParentStatus:
    """One parentRef of a route, as the route named it, and what became of it."""

    group: str
    kind: str
    namespace: str
    name: str
    section_name: str | None
    port: int | None
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class RouteStatus:
    namespace: str
    name: str
    generation: int
    parents: tuple[ParentStatus, ...]

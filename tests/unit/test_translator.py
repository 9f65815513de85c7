"""The translator kept between views: a translation that raises leaves it as it was."""

from __future__ import annotations

from typing import Any

import pytest

from xdscp import render
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.resourcetypes import CLUSTER
from xdscp.translate import Translator, translate
from xdscp.translate import translator as translator_module
from xdscp.translate.outputs import service_output


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }


def keepalive(probes: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "a"}],
            "tcpKeepalive": {"keepAliveProbes": probes},
        },
    }


def objects(*bodies: dict[str, Any]) -> list[Any]:
    loaded = load([Document("test", body) for body in bodies], {})
    assert loaded.problems == []
    return list(loaded.objects.values())


def test_a_translation_that_raises_leaves_the_translator_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    translator = Translator()
    view = Resources.of(objects(service("a"), keepalive(3)))
    first = translator.translate(view)
    failing = view.replacing(objects(keepalive(5), service("boom")))
    real = service_output

    def fails_on_boom(service: Any, *args: Any) -> Any:
        if service.metadata.name == "boom":
            raise ValueError("a translator bug")
        return real(service, *args)

    monkeypatch.setattr(translator_module, "service_output", fails_on_boom)
    with pytest.raises(ValueError, match="a translator bug"):
        translator.translate(failing)
    monkeypatch.undo()
    again = translator.translate(failing)
    assert again.base == first.serial  # made from the last that succeeded
    assert again.changed is not None and set(again.changed[CLUSTER]) == {
        "kube_ns_a_80",
        "kube_ns_boom_80",
    }
    fresh = translate(failing)
    assert render.document(again, explain=True) == render.document(fresh, explain=True)

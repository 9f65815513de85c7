"""The corpus: one object a file, named after it, in namespace corpus; mostly policies that
target Service svc, and the Kubernetes and Gateway API objects Envoy would otherwise NACK.
Each is validated beside context.yaml (the Service svc, the Gateway gw).

- valid/: admitted by the API server with our CRD, and by `xdscp validate`.
- invalid/: refused by both; `# expect: <field path>` names the field the error must name.
- stricter/: admitted by the API server but refused by `xdscp validate`, because Envoy (or
  kgateway's translator) would refuse it; `# expect:` as in invalid/.

The same files can be applied to a real kube-apiserver (tests/k8s) to hold the CRD to this.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from xdscp.app import validate

HERE = Path(__file__).parent
CONTEXT = HERE / "context.yaml"
_EXPECT = re.compile(r"^# expect: (\S+)$", re.MULTILINE)


def corpus(folder: str) -> list[Path]:
    return sorted((HERE / folder).glob("*.yaml"))


def expected_field(path: Path) -> str:
    found = _EXPECT.search(path.read_text())
    assert found, f"{path.name} has no `# expect: <field path>` line"
    return found.group(1)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", corpus("valid"), ids=_ids(corpus("valid")))
def test_valid(path: Path) -> None:
    assert validate((CONTEXT, path)) == []


@pytest.mark.parametrize(
    "path",
    corpus("invalid") + corpus("stricter"),
    ids=[f"{p.parent.name}/{p.stem}" for p in corpus("invalid") + corpus("stricter")],
)
def test_invalid_names_its_field(path: Path) -> None:
    field = expected_field(path)
    problems = validate((CONTEXT, path))
    # A problem reads "<file>: <Kind> corpus/<name>: <field>: <message>".
    assert any(f"corpus/{path.stem}: {field}: " in p for p in problems), problems


@pytest.mark.parametrize("folder", ["valid", "invalid", "stricter"])
def test_each_file_is_one_object_in_namespace_corpus(folder: str) -> None:
    for path in corpus(folder):
        (doc,) = yaml.safe_load_all(path.read_text())
        identity = {k: doc["metadata"].get(k) for k in ("name", "namespace")}
        assert identity == {"name": path.stem, "namespace": "corpus"}, path.name


def test_corpus_size() -> None:
    assert len(corpus("valid")) + len(corpus("invalid")) >= 80

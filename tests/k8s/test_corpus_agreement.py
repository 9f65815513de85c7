"""The corpus against the real kube-apiserver with our CRD, and against `xdscp validate`.

Every file of tests/corpus is sent with `kubectl apply --dry-run=server --validate=strict`
(what a user's apply does, minus storing it) into one namespace, and checked offline with
`xdscp.app.validate`:

- valid/: admitted by both, and the object the API server returns (its CRD defaults filled
  in) translates to the same Envoy resources as the file does in file mode;
- invalid/: refused by both, each naming the `# expect:` field, and every field the API
  server names is named by xdscp too;
- stricter/: admitted by the API server, refused by xdscp naming the `# expect:` field.

The dry runs go out 4 at a time in a module fixture, so each test only reads a result.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from xdscp.app import render_files, validate
from xdscp.translate import Options

from .apiserver import KubeCluster

pytestmark = pytest.mark.apiserver

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FOLDERS = ("valid", "invalid", "stricter")
_EXPECT = re.compile(r"^# expect: (\S+)$", re.MULTILINE)
_NAMESPACE = re.compile(r"^(\s*namespace:\s*)corpus\s*$", re.MULTILINE)
# What file mode validates and renders each corpus file beside: the Service svc, the Gateway gw.
CONTEXT = CORPUS / "context.yaml"


def corpus(folder: str) -> list[Path]:
    return sorted((CORPUS / folder).glob("*.yaml"))


def _params(folder: str) -> list[Any]:
    return [pytest.param(p, id=f"{folder}/{p.stem}") for p in corpus(folder)]


def expected_field(path: Path) -> str:
    found = _EXPECT.search(path.read_text())
    assert found, f"{path.name} has no `# expect: <field path>` line"
    return found.group(1)


@dataclass(frozen=True)
class Admission:
    """What `kubectl apply --dry-run=server --validate=strict` made of one file."""

    accepted: bool
    output: str  # stdout and stderr
    stored: dict[str, Any] | None  # the object the API server would store, defaults included


def dry_run(cluster: KubeCluster, namespace: str, path: Path) -> Admission:
    # The text is sent as written (only the namespace changes), so kubectl's YAML parser
    # reads it, not PyYAML: the two do not read every scalar alike.
    text, count = _NAMESPACE.subn(rf"\g<1>{namespace}", path.read_text())
    assert count == 1, f"{path.name}: want one `namespace: corpus` line, found {count}"
    applied = cluster.kubectl(
        "apply",
        "--server-side=false",
        "--dry-run=server",
        "--validate=strict",
        "--output=json",
        "--filename=-",
        input=text,
    )
    accepted = applied.returncode == 0
    stored = json.loads(applied.stdout) if accepted else None
    return Admission(accepted, applied.stdout + applied.stderr, stored)


@pytest.fixture(scope="module")
def admissions(k8s_cluster: KubeCluster) -> Iterator[dict[Path, Admission]]:
    namespace = k8s_cluster.create_namespace("corpus-agreement")
    paths = [p for folder in FOLDERS for p in corpus(folder)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: dry_run(k8s_cluster, namespace, p), paths))
    print(f"{len(paths)} dry runs in {time.monotonic() - started:.1f} s")
    yield dict(zip(paths, results, strict=True))


def api_field_paths(output: str) -> set[str]:
    """The field paths in kubectl's error output, in the corpus's notation.

    `The BackendConfigPolicy "x" is invalid: spec.a: ...` names one; with several errors
    each is a `* path: ...` line. A `<nil>` path names its field at the end of its message
    (`... format int32 in spec.a`), or none (`some validation rules were not checked`).
    Strict decoding names unknown fields as `unknown field "spec.a"`.
    """
    paths = set(re.findall(r'unknown field "([^"]+)"', output))
    _, invalid, details = output.partition(" is invalid: ")
    if invalid:
        items = [line[2:] for line in details.splitlines() if line.startswith("* ")]
        for item in items or [details.strip()]:
            path, _, message = item.partition(": ")
            if path != "<nil>":
                paths.add(path)
            elif found := re.search(r" in ([\w.\[\]]+)$", message):
                paths.add(found.group(1))
    return paths


def our_field_paths(path: Path) -> tuple[set[str], list[str]]:
    """The field paths `xdscp validate` names for the file's object, and its problems."""
    problems = validate((CONTEXT, path))
    name = r"\w+ " + re.escape(f"corpus/{path.stem}: ")
    found = (re.search(name + r"(.+?): ", p) for p in problems)
    return {f.group(1) for f in found if f}, problems


def render_beside_service(text: str, directory: Path) -> str:
    """`xdscp render` of the object next to the Service svc and the Gateway gw."""
    directory.mkdir()
    (directory / "context.yaml").write_text(CONTEXT.read_text())
    (directory / "object.yaml").write_text(text)
    return render_files((directory,), "yaml", False, Options())


def as_stored_in_corpus(stored: dict[str, Any]) -> str:
    """The API server's object back in namespace corpus, metadata reduced to name and labels
    (an EndpointSlice's names its Service)."""
    meta = stored["metadata"]
    kept = {"name": meta["name"], "namespace": "corpus", "labels": meta.get("labels", {})}
    return yaml.safe_dump({**stored, "metadata": kept})


# --- valid/ -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params("valid"))
def test_valid_is_admitted_by_both_and_translates_as_stored(
    path: Path, admissions: dict[Path, Admission], tmp_path: Path
) -> None:
    admission = admissions[path]
    assert admission.accepted, admission.output
    assert validate((CONTEXT, path)) == []
    assert admission.stored is not None
    # The API server fills in the CRD's defaults; file mode must apply the same ones.
    from_file = render_beside_service(path.read_text(), tmp_path / "file")
    from_server = render_beside_service(as_stored_in_corpus(admission.stored), tmp_path / "api")
    assert "problems" not in yaml.safe_load(from_file)
    assert from_server == from_file


# --- invalid/ -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params("invalid"))
def test_invalid_is_refused_by_both_naming_the_same_field(
    path: Path, admissions: dict[Path, Admission]
) -> None:
    field = expected_field(path)
    admission = admissions[path]
    ours, problems = our_field_paths(path)

    assert not admission.accepted, admission.output
    api = api_field_paths(admission.output)
    assert field in api, admission.output
    assert field in ours, problems
    # Whatever the API server points at, we point at too (we may say more: it skips CEL
    # rules once a schema check failed, we do not).
    assert api <= ours, f"API server: {admission.output}\nxdscp: {problems}"


# --- stricter/ ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params("stricter"))
def test_stricter_is_admitted_by_the_api_server_and_refused_by_xdscp(
    path: Path, admissions: dict[Path, Admission]
) -> None:
    admission = admissions[path]
    ours, problems = our_field_paths(path)

    assert admission.accepted, admission.output
    assert expected_field(path) in ours, problems


# --- the parsing the checks above rely on --------------------------------------------------


def test_api_field_paths_reads_each_form_kubectl_prints() -> None:
    single = 'The BackendConfigPolicy "a" is invalid: spec.x: Invalid value: -1: spec.x in body'
    several = (
        'The BackendConfigPolicy "a" is invalid: \n'
        "* spec.targetRefs[0].group: Required value\n"
        "* <nil>: Invalid value: null: some validation rules were not checked because the "
        "object was invalid; correct the existing errors to complete validation\n"
        '* <nil>: Invalid value: "": Checked value must be of type integer with format int32 '
        "in spec.perConnectionBufferLimitBytes"
    )
    unknown = (
        'Error from server (BadRequest): error when creating "STDIN": BackendConfigPolicy in '
        'version "v1alpha1" cannot be handled as a BackendConfigPolicy: strict decoding error: '
        'unknown field "spec.bogus", unknown field "spec.tcpKeepalive.x"'
    )

    assert api_field_paths(single) == {"spec.x"}
    assert api_field_paths(several) == {
        "spec.targetRefs[0].group",
        "spec.perConnectionBufferLimitBytes",
    }
    assert api_field_paths(unknown) == {"spec.bogus", "spec.tcpKeepalive.x"}
    assert api_field_paths("backendconfigpolicy.gateway.kgateway.dev/a created") == set()

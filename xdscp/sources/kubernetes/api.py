"""The few API server calls xdscp makes, with JSON exactly as the server sends it.

Built on the official client's ApiClient, which brings kubeconfig and in-cluster
authentication, TLS and token refresh. Objects stay plain camelCase dicts, so the model reads
them as it reads YAML files; the generated typed models would rename every field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes import client

log = logging.getLogger("xdscp.kubernetes")

JSON = dict[str, Any]
Query = Sequence[tuple[str, str]]
FIELD_MANAGER = "xdscp"  # how the API server's managedFields name our writes


class ApiError(Exception):
    """A failed call. `status` is the HTTP status, or 0 when no answer came; `retry_after` is
    how long the server asked us to wait (seconds, from Retry-After), if it said."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {message}" if status else message)
        self.status = status
        self.retry_after = retry_after


class Api:
    """JSON in, JSON out, over one connection pool; safe to share between threads."""

    def __init__(self, configuration: client.Configuration, timeout: float = 10.0) -> None:
        # The client is imported only once an API server is to be called: it and what it
        # brings are ~10 MB of a process that serves files.
        from kubernetes.client import ApiClient

        self._client = ApiClient(configuration)
        self._timeout = timeout

    def get(self, path: str, query: Query = ()) -> JSON:
        return _json(self._send("GET", path, query))

    def create(self, path: str, body: JSON) -> JSON:
        return _json(self._send("POST", path, (("fieldManager", FIELD_MANAGER),), body))

    def replace(self, path: str, body: JSON) -> JSON:
        return _json(self._send("PUT", path, (("fieldManager", FIELD_MANAGER),), body))

    def merge_patch(self, path: str, body: JSON) -> JSON:
        query = (("fieldManager", FIELD_MANAGER),)
        return _json(self._send("PATCH", path, query, body, "application/merge-patch+json"))

    def apply(self, path: str, body: JSON) -> JSON:
        """Server-side apply: the fields `body` sets become ours; others' fields stay theirs."""
        query = (("fieldManager", FIELD_MANAGER), ("force", "true"))
        return _json(self._send("PATCH", path, query, body, "application/apply-patch+yaml"))

    def watch(self, path: str, query: Query, read_timeout: float) -> Iterator[JSON]:
        """Watch events as they arrive, until the server ends the watch or the connection drops."""
        response = self._send("GET", path, (*query, ("watch", "true")), read_timeout=read_timeout)
        if not 200 <= response.status < 300:
            _json(response)  # raises with the server's message
        raw = response.response
        from kubernetes.watch.watch import iter_resp_lines

        try:
            for line in iter_resp_lines(raw):
                if line:
                    event: JSON = json.loads(line)
                    yield event
        except _broken() as err:
            raise ApiError(0, f"watch of {path} broke: {err}") from err
        finally:
            # An abandoned watch holds a half-read connection: close it, never reuse it.
            raw.close()
            raw.release_conn()

    def _send(
        self,
        method: str,
        path: str,
        query: Query,
        body: JSON | None = None,
        content_type: str = "application/json",
        read_timeout: float | None = None,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        from kubernetes.client import ApiException

        try:
            return self._client.call_api(
                *request, _request_timeout=(self._timeout, read_timeout or self._timeout)
            )
        except ApiException as err:  # TLS failures come as status 0
            retry_after = _retry_after((err.headers or {}).get("Retry-After"))
            raise ApiError(err.status or 0, str(err.reason), retry_after) from err
        except _broken() as err:
            raise ApiError(0, f"{method} {path}: {err}") from err


def _broken() -> tuple[type[BaseException], ...]:
    """A connection's failures. urllib3 is imported with the client, when an API server is
    first called: a process serving files has no use for it (config.py)."""
    import urllib3

    return (urllib3.exceptions.HTTPError, OSError)


def _json(response: Any) -> JSON:
    try:
        data = response.read()
    except _broken() as err:
        raise ApiError(0, f"reading the answer failed: {err}") from err
    try:
        body = json.loads(data) if data else {}
    except ValueError:  # a proxy's or a bare "404 page not found"
        body = {"message": data.decode(errors="replace").strip()}
    if not 200 <= response.status < 300:
        raise ApiError(
            response.status,
            str(body.get("message") or response.reason),
            _retry_after(response.headers.get("Retry-After")),
        )
    if not isinstance(body, dict):
        raise ApiError(response.status, "the answer is not a JSON object")
    return body


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, as API Priority and Fairness sends it (HTTP dates are not)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None

"""Log lines as text or as JSON, and every line about a stream tagged with its node."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

STREAM_FIELDS = ("node", "stream", "variant")


class StreamLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for one ADS stream: node id and stream number on every line, as fields (for
    JSON) and at the start of the text; the node id is read when logging, as it arrives late."""

    def __init__(self, logger: logging.Logger, status: Any) -> None:
        super().__init__(logger, {})
        self.status = status

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        status = self.status
        kwargs["extra"] = {"node": status.node_id, "stream": status.stream}
        kwargs["extra"]["variant"] = status.variant
        return f"node={status.node_id or '?'} stream={status.stream} {msg}", kwargs


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in STREAM_FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure(verbose: bool, form: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if form == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])

"""Log lines as text or as JSON, and every line about a stream tagged with its node."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

STREAM_FIELDS = ("node", "stream", "variant")
# Client-supplied text (node ids, type URLs, NACK messages) is cut to this many characters in
# logs and in /status: a client must not be able to fill a disk or a status page.
CLIP = 512


def clip(text: str, limit: int = CLIP) -> str:
    """`text`, or its start and how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text) - limit:,} more characters)"


class StreamLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for one ADS stream: node id and stream number on every line, as fields (JSON
    keeps them apart from the message; text puts them first); the node id is read when
    logging, as it arrives late.
    Every string on such a line may come from the client, so each is clipped."""

    def __init__(self, logger: logging.Logger, status: Any) -> None:
        super().__init__(logger, {})
        self.status = status

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        status = self.status
        node = clip(status.node_id) or None  # None until the first request names it
        kwargs["extra"] = {"node": node, "stream": status.stream, "variant": status.variant}
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        clipped = (clip(a) if isinstance(a, str) else a for a in args)
        super().log(level, msg, *clipped, **kwargs)


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


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message>`, a stream's line with `node=... stream=...` first."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        if hasattr(record, "stream"):
            node = getattr(record, "node", None) or "?"
            prefixed = f"node={node} stream={record.stream} {record.message}"
            record = logging.makeLogRecord({**record.__dict__, "message": prefixed})
        return super().formatMessage(record)


def configure(verbose: bool, form: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])

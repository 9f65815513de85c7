"""Structured logs: with --log-format json every stream line carries its node as a field."""

from __future__ import annotations

import json
import logging

from xdscp.logs import JsonFormatter, StreamLog, TextFormatter
from xdscp.server.fleet import Fleet


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_stream_lines_carry_node_and_stream_in_text_and_json() -> None:
    status = Fleet().open("delta", "ipv4:127.0.0.1:1")
    status.node_id = "gateway-7"
    logger = logging.getLogger("xdscp.test-logs")
    handler = Kept()
    records = handler.records
    logger.addHandler(handler)
    try:
        StreamLog(logger, status).warning("type=%s NACK: %s", "cds", "bad")
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert (
        TextFormatter()
        .format(record)
        .endswith(" WARNING xdscp.test-logs: node=gateway-7 stream=1 type=cds NACK: bad")
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["node"] == "gateway-7" and line["stream"] == 1 and line["variant"] == "delta"
    # The fields are fields only: the message is the message.
    assert line["level"] == "WARNING" and line["message"] == "type=cds NACK: bad"


def test_a_node_not_yet_known_is_null_in_json_and_a_question_mark_in_text() -> None:
    status = Fleet().open("sotw", "ipv4:127.0.0.1:1")
    logger = logging.getLogger("xdscp.test-logs-unknown")
    handler = Kept()
    records = handler.records
    logger.addHandler(handler)
    try:
        StreamLog(logger, status).warning("opened")
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert json.loads(JsonFormatter().format(record))["node"] is None
    assert TextFormatter().format(record).endswith(": node=? stream=1 opened")

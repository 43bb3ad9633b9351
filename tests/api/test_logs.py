"""Logs are JSON lines that carry the request id."""

import io
import json
import logging

import httpx

from api import logs


def test_a_record_renders_as_one_json_line_with_the_request_id() -> None:
    token = logs.request_id_var.set("req-42")
    try:
        record = logging.LogRecord(
            "enclave", logging.WARNING, __file__, 1, "hello %s", ("world",), None
        )
        line = logs.JsonFormatter().format(record)
    finally:
        logs.request_id_var.reset(token)
    body = json.loads(line)
    assert body["message"] == "hello world"
    assert body["request_id"] == "req-42"
    assert body["level"] == "warning"


async def test_logs_during_a_request_carry_its_id(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("enclave.security")
    logger.addHandler(handler)
    try:
        headers = {"Authorization": "Bearer nope", "X-Request-Id": "trace-1"}
        response = await client.get("/v1/documents", headers=headers)
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 401
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(
        line["request_id"] == "trace-1" and "auth_failed" in line["message"] for line in lines
    )


async def test_keys_never_reach_the_logs(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    secret = "ek_this-key-must-not-be-logged-0000000000000"
    try:
        await client.get("/v1/documents", headers={"Authorization": f"Bearer {secret}"})
        await client.post(
            "/v1/search", json={"query": "x"}, headers={"Authorization": f"Bearer {secret}"}
        )
    finally:
        root.removeHandler(handler)
    assert stream.getvalue()
    assert secret not in stream.getvalue()
    assert secret[10:] not in stream.getvalue()

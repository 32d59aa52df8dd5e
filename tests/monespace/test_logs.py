"""monespace/logs.py: JSON lines (or text) with the id of the request each line was logged in."""

from __future__ import annotations

import json
import logging

import pytest

from monespace import logs

log = logging.getLogger("monespace.tests")


@pytest.fixture
def configured():
    """monespace.logs.configure(format), undone after the test."""
    yield logs.configure
    logs.unconfigure()


@pytest.fixture
def logging_app(make_app, configured):
    """The demo app logging JSON lines, with a route that logs two lines."""
    app = make_app(log_format="json")
    configured(app.config["MONESPACE"].log_format)

    def chatty() -> str:
        log.warning("first line")
        log.info("second line")
        return "ok"

    app.add_url_rule("/chatty", "chatty", chatty)
    return app


def lines(capsys) -> list[dict]:
    """The JSON lines written to stderr; any other line fails the test."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def ours(records: list[dict]) -> list[dict]:
    return [r for r in records if r["logger"] == "monespace.tests"]


def test_each_line_of_a_request_carries_the_callers_request_id(logging_app, capsys):
    capsys.readouterr()
    response = logging_app.test_client().get("/chatty", headers={"X-Request-ID": "req-42.a"})
    assert response.status_code == 200
    records = ours(lines(capsys))
    assert [r["message"] for r in records] == ["first line", "second line"]
    assert [r["request_id"] for r in records] == ["req-42.a", "req-42.a"]
    assert {r["level"] for r in records} == {"WARNING", "INFO"}
    assert all(r["time"].endswith("+00:00") for r in records)


def test_a_request_without_an_id_gets_one_shared_by_its_lines(logging_app, capsys):
    client = logging_app.test_client()
    capsys.readouterr()
    client.get("/chatty")
    client.get("/chatty")
    records = ours(lines(capsys))
    ids = [r["request_id"] for r in records]
    assert len(ids) == 4 and all(ids)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


@pytest.mark.parametrize("given", ["a b", "x" * 129, "id\u00e9", "\u2028forged"])
def test_an_unacceptable_request_id_is_replaced_not_logged(logging_app, capsys, given):
    capsys.readouterr()
    logging_app.test_client().get("/chatty", headers={"X-Request-ID": given})
    records = ours(lines(capsys))
    assert len(records) == 2
    assert records[0]["request_id"] == records[1]["request_id"] != given
    assert len(records[0]["request_id"]) == 32


def test_an_exception_is_logged_as_one_json_line(logging_app, capsys):
    def failing() -> str:
        raise RuntimeError("boom")

    logging_app.add_url_rule("/failing", "failing", failing)
    capsys.readouterr()
    response = logging_app.test_client().get("/failing", headers={"X-Request-ID": "r1"})
    assert response.status_code == 500
    records = lines(capsys)  # every line parses: the traceback is inside one
    failure = [r for r in records if "exception" in r]
    assert len(failure) == 1
    assert "RuntimeError: boom" in failure[0]["exception"]
    assert failure[0]["request_id"] == "r1"


def test_lines_outside_a_request_have_no_id(logging_app, capsys):
    capsys.readouterr()
    log.warning("at start-up")
    (record,) = ours(lines(capsys))
    assert record["request_id"] is None


def test_the_text_format_shows_the_request_id(make_app, configured, capsys):
    app = make_app(log_format="text")
    configured("text")
    app.add_url_rule("/chatty", "chatty", lambda: log.warning("hello") or "ok")
    capsys.readouterr()
    app.test_client().get("/chatty", headers={"X-Request-ID": "req-7"})
    err = capsys.readouterr().err
    assert "WARNING monespace.tests [req-7] hello" in err
    assert not err.lstrip().startswith("{")

"""deploy/grafana/monespace.json: a Grafana dashboard whose every query names metrics that the
app's /metrics or the worker's show, so that no panel stays empty because of a misspelled or
renamed metric."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests import scrape
from tests.smtp_server import free_port

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "monespace.json"
METRIC = re.compile(r"\bmonespace_[a-z0-9_]+")


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} queries nothing"
        found += [target["expr"] for target in panel["targets"]]
    return found


def test_the_dashboard_is_grafana_json_with_unique_panel_ids():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "monespace"
    assert {"datasource"} <= {v["name"] for v in dashboard["templating"]["list"]}


@pytest.fixture
def worker_env(database, database_url, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "MONESPACE_MODE": "production",
        "MONESPACE_DATABASE_URL": database_url,
        "MONESPACE_SECRET_KEY": "k" * 40,
        "MONESPACE_BASE_URL": "https://id.example.test",
        "MONESPACE_DATA_DIR": str(tmp_path / "worker"),
    }


def test_every_metric_the_dashboard_queries_is_served(make_live_app, worker_env):
    live = make_live_app(metrics_token=scrape.TOKEN)
    # One request, so that the request metrics have a series.
    assert scrape.get(f"{live.url}/healthz")[0] == 200
    served = {name for name, _labels in scrape.scrape(live.url)}
    port = free_port()
    worker = scrape.start_worker(worker_env, port)
    try:
        served |= {name for name, _labels in scrape.scrape(f"http://127.0.0.1:{port}")}
    finally:
        scrape.stop_worker(worker)
    queried = {name for expr in queries() for name in METRIC.findall(expr)}
    assert len(queried) >= 20
    assert sorted(queried - served) == []

"""loadtests/servers.py: both server models serve an app the benchmarks can load, report their
workers' memory, and stop with their workers; a server that cannot start says so."""

from __future__ import annotations

import urllib.request

import psutil
import pytest

from loadtests import raw_app
from loadtests.loadgen import LoadGenerator, get
from loadtests.servers import GranianSettings, GunicornSettings, serve, settings_for

pytestmark = pytest.mark.slow


def test_settings_follow_the_benchmarks_options():
    assert settings_for("granian", 3, 5) == GranianSettings(3, 5)
    assert settings_for("gunicorn", 2, 4, "gthread") == GunicornSettings(2, "gthread", 4)
    assert str(GranianSettings(2, 4)) == "granian, 2 WSGI workers, 4 threads each"
    # An app factory is called by each worker: gunicorn's "f()", granian's --factory.
    assert GranianSettings().command("monespace.app:create_app()", 8000)[-2:] == [
        "--factory",
        "monespace.app:create_app",
    ]
    assert GranianSettings().command("loadtests.raw_app:app", 8000)[-1] == "loadtests.raw_app:app"
    assert "--factory" not in GranianSettings().command("loadtests.raw_app:app", 8000)


@pytest.mark.parametrize(
    "settings", [GunicornSettings(2, "gthread", 2), GranianSettings(2, 2)], ids=str
)
def test_each_server_model_serves_the_raw_app_under_load(settings, tmp_path):
    with serve("loadtests.raw_app:app", settings, {}, tmp_path, ready_path="/") as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/x", timeout=5) as answer:
            assert answer.status == 200 and answer.read() == raw_app.DECISION
        idle = server.cpu_seconds()
        with LoadGenerator(1, 2) as load:
            result = load.run(server.port, [get("/x", server.port)], 0.5, warmup=0.1)
        assert result.requests > 0 and result.errors == 0
        assert server.max_worker_rss > 0  # its workers were found and sampled
        assert server.cpu_seconds() > idle  # the load's CPU time, its workers' included
        workers = server.workers()
        assert workers
    for worker in workers:  # stopped with the server
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_a_server_that_cannot_load_its_app_says_so(tmp_path):
    with (
        pytest.raises(RuntimeError, match="exited at start-up"),
        serve("loadtests.no_such_module:app", GranianSettings(1, 1), {}, tmp_path, timeout=30),
    ):
        pass

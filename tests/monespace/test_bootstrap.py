"""monespace/bootstrap.py: processes starting together on an empty database."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from authz import db
from authz.models import Person
from monespace import bootstrap

# Each process waits at a barrier file, then builds the app: as a server's workers do, each
# calling create_app() at start-up.
STARTER = textwrap.dedent(
    """
    import os, sys, time
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.001)
    from monespace.app import create_app
    create_app({"database_url": sys.argv[1], "mode": "demo", "data_dir": sys.argv[2]})
    print("started")
    """
)


def test_workers_starting_together_create_the_schema_and_the_demo_data_once(
    empty_database, database_url, tmp_path
):
    db.database.close()
    barrier = tmp_path / "go"
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, database_url, str(tmp_path), str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    barrier.touch()
    outputs = [starter.communicate(timeout=120) for starter in starters]
    for starter, (out, err) in zip(starters, outputs, strict=True):
        assert starter.returncode == 0, err
        assert out.strip() == "started"
    db.database.connect(reuse_if_open=True)
    assert all(s.version() == s.current for s in bootstrap.schema_sets())
    nrns = [p.nrn for p in Person.select(Person.nrn)]
    assert nrns and len(nrns) == len(set(nrns))

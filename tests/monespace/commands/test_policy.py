"""``monespace policy check|test|explain`` and ``monespace requests expire``."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner

from authz.models import RoleRequest, utcnow
from monespace import demo
from monespace.cli import cli, main
from policies import POLICY_DIR


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def policy_copy(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture
def seeded(cli_env):
    demo.seed()
    return cli_env


def test_check_ok(runner):
    result = runner.invoke(cli, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "policy OK: 1 file(s), 11 permissions" in result.output


def test_check_syntax_error_is_one_line(policy_copy, capsys):
    path = policy_copy / "enterprise.polar"
    path.write_text(path.read_text().replace('"agent" if "owner";', '"agent" if "owner"'))
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "check", "--policy-dir", str(policy_copy)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: policy does not load:")
    assert err.count("\n") == 1


def test_truth_table_passes(runner):
    result = runner.invoke(cli, ["policy", "test"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("passed, 0 failed")


def test_truth_table_fails_loudly_when_a_rule_changes(runner, policy_copy):
    path = policy_copy / "enterprise.polar"
    path.write_text(
        path.read_text().replace('"submit_dossier" if "owner";', '"submit_dossier" if "agent";')
    )
    result = runner.invoke(cli, ["policy", "test", "--policy-dir", str(policy_copy)])
    assert result.exit_code == 1
    assert "FAIL  agent submit_dossier acme [fiscalite] -> deny: got allow" in result.output
    assert "1 failed" in result.output


def test_explain_allow_and_deny(runner, seeded):
    result = runner.invoke(
        cli,
        [
            "policy",
            "explain",
            "--person",
            "90.01.01-001.23",
            "--action",
            "act_for",
            "--enterprise",
            "BE 0123.456.749",
            "--service-domain",
            "fiscalite",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ALLOW  act_for")
    assert "path: grant:agent" in result.output
    assert '"act_for" if "agent";' in result.output

    result = runner.invoke(
        cli,
        [
            "policy",
            "explain",
            "--person",
            "90010100123",
            "--action",
            "act_for",
            "--enterprise",
            "0123456749",
            "--service-domain",
            "environnement",
            "--json",
        ],
    )
    body = json.loads(result.output)
    assert body["decision"] is False
    assert any("limited to fiscalite" in reason for reason in body["reasons"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--person", "12345678901", "--action", "act_for", "--enterprise", "0123456749"],
            "error: invalid national register number",
        ),
        (
            ["--person", "90010100123", "--action", "act_for", "--enterprise", "0123456748"],
            "error: invalid BCE number",
        ),
        (
            ["--person", "90010100123", "--action", "fly", "--enterprise", "0123456749"],
            "error: unknown action 'fly'",
        ),
        (
            [
                "--person",
                "90010100123",
                "--action",
                "act_for",
                "--enterprise",
                "0123456749",
                "--on",
                "tomorrow",
            ],
            "error: invalid date",
        ),
    ],
)
def test_explain_bad_input(seeded, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "explain", *args])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_requests_expire(runner, seeded):
    pending = RoleRequest.get(RoleRequest.status == "pending")
    result = runner.invoke(cli, ["requests", "expire"])
    assert result.output.strip() == "0 role request(s) expired"
    RoleRequest.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        RoleRequest.id == pending.id
    ).execute()
    result = runner.invoke(cli, ["requests", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 role request(s) expired"
    assert RoleRequest.get_by_id(pending.id).status == "expired"

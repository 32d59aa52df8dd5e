"""``monespace policy check|test|explain|diff|coverage`` and ``monespace requests expire``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta

import pytest
from click.testing import CliRunner

from authz.models import RoleRequest, utcnow
from monespace import demo
from monespace.cli import cli, main
from policies import POLICY_DIR
from tests.monespace.conftest import run_cli


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
    assert "policy OK: 1 file(s), 14 permissions" in result.output


def test_check_syntax_error_is_one_line(policy_copy, capsys):
    path = policy_copy / "enterprise.polar"
    path.write_text(
        path.read_text().replace('"agent" if "client_agent";', '"agent" if "client_agent"')
    )
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


# -- policy diff -------------------------------------------------------------------------------

AGENT_RULE, CHANGED_AGENT_RULE = '"act_for" if "agent";', '"act_for" if "owner";'


def change_rule(policy_dir, old=AGENT_RULE, new=CHANGED_AGENT_RULE):
    path = policy_dir / "enterprise.polar"
    path.write_text(path.read_text().replace(old, new))


def test_diff_of_identical_policies_exits_0(seeded, policy_copy, capsys):
    code, out, err = run_cli(capsys, "policy", "diff", str(POLICY_DIR), str(policy_copy))

    assert code == 0, err
    assert "truth table" in out and ", 0 changed" in out
    assert "database: " in out
    assert out.rstrip().endswith("0 changed: no decision changes")
    assert "CHANGED" not in out
    assert "100.0%" in err  # the progress, on stderr


def test_diff_of_a_changed_rule_exits_1_with_both_explanations(seeded, policy_copy, capsys):
    change_rule(policy_copy)

    code, out, _err = run_cli(capsys, "policy", "diff", str(POLICY_DIR), str(policy_copy))

    assert code == 1
    # The truth table's case, then Luc (the demo's agent, for fiscalite) in the database.
    assert "CHANGED  agent act_for acme [fiscalite]: allow -> deny" in out
    luc = (
        "CHANGED  act_for  person 90010100123  enterprise 0123456749  service domain "
        "fiscalite: allow -> deny"
    )
    assert luc in out
    after_luc = out[out.index(luc) :]
    old, new = after_luc.split("    new:", 1)
    assert "ALLOW  act_for  person 90010100123" in old
    assert f"rule enterprise.polar:152  {AGENT_RULE}" in old
    assert "DENY  act_for  person 90010100123" in new
    assert "the role agent does not give act_for" in new
    ines = "CHANGED  act_for  person 86091215791  enterprise 0444555552"
    assert ines in out  # the client agent of the demo's firm is an agent of the firm itself
    # Three truth-table cases (the agents of Acme and of the firm Fidu), Luc, and Inès (every
    # domain, then fiscalite).
    assert out.rstrip().endswith("6 changed: decisions change")


def test_diff_without_the_database_runs_the_truth_table_only(policy_copy, capsys):
    change_rule(policy_copy)

    code, out, _err = run_cli(
        capsys, "policy", "diff", str(POLICY_DIR), str(policy_copy), "--no-database"
    )

    assert code == 1
    assert "CHANGED  agent act_for acme [fiscalite]: allow -> deny" in out
    assert "\ndatabase" not in out


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A git repository whose two commits hold the policy before and after a change."""
    repo = tmp_path / "repo"
    shutil.copytree(
        POLICY_DIR, repo / "policies", ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@example.test", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "before the policy")
    git("add", "policies")
    git("commit", "-q", "-m", "policy")
    change_rule(repo / "policies")
    git("commit", "-q", "-am", "agents no longer act")
    (repo / "docs").mkdir()
    monkeypatch.chdir(repo / "docs")  # anywhere in the repository
    return repo


def test_diff_of_git_revisions(repository, capsys):
    code, out, _err = run_cli(capsys, "policy", "diff", "HEAD~1", "HEAD", "--no-database")

    assert code == 1
    assert "old: HEAD~1 (git revision)" in out
    assert "CHANGED  agent act_for acme [fiscalite]: allow -> deny" in out

    code, out, _err = run_cli(capsys, "policy", "diff", "HEAD", "..", "--no-database")
    assert code == 0, out  # the last commit and the working tree (its policies/ folder)
    assert out.rstrip().endswith("0 changed: no decision changes")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-revision", "HEAD"], "error: 'no-such-revision' is neither a folder nor a git"),
        (["HEAD~2", "HEAD"], "error: HEAD~2: no policies/*.polar at that revision"),
    ],
)
def test_diff_of_a_bad_revision_exits_2(repository, capsys, args, message):
    code, out, err = run_cli(capsys, "policy", "diff", *args, "--no-database")

    assert code == 2
    assert err.startswith(message)
    assert "Traceback" not in out + err


def test_diff_with_a_policy_that_does_not_load_exits_2(policy_copy, capsys):
    change_rule(policy_copy, '"agent" if "client_agent";', '"agent" if "client_agent"')

    code, out, err = run_cli(capsys, "policy", "diff", str(POLICY_DIR), str(policy_copy))

    assert code == 2
    assert err.startswith(f"error: {policy_copy}: policy does not load:")
    assert err.count("\n") == 1
    assert "Traceback" not in out + err


def test_diff_of_a_folder_without_policy_exits_2(tmp_path, capsys):
    code, _out, err = run_cli(capsys, "policy", "diff", str(POLICY_DIR), str(tmp_path))

    assert code == 2
    assert err == f"error: {tmp_path}: a folder without policy files (*.polar)\n"


# -- policy coverage ---------------------------------------------------------------------------


def test_coverage_of_the_policy_exits_0(capsys):
    code, out, _err = run_cli(capsys, "policy", "coverage")

    assert code == 0, out
    assert "enterprise.polar: " in out
    assert not re.search(r"^\s+\d+\s+never reached", out, re.M)
    assert "  152  covered" in out
    assert ", 0 never reached (" in out


def test_coverage_reports_a_rule_never_reached(policy_copy, capsys):
    path = policy_copy / "enterprise.polar"
    text = path.read_text()
    path.write_text(
        text + "\n# Auditors read everything.\nmay_audit(person: Person, _e: Enterprise) if\n"
        '  person.nrn != "";\n'
    )
    line = len(text.splitlines()) + 3

    code, out, _err = run_cli(capsys, "policy", "coverage", "--policy-dir", str(policy_copy))

    assert code == 1
    assert f"  {line}  never reached" in out
    assert "may_audit(person: Person, _e: Enterprise)" in out
    assert ", 1 never reached (" in out


def test_the_shipped_policy_has_every_rule_held_by_the_table(capsys):
    code, out, _err = run_cli(capsys, "policy", "coverage", "--strict")

    assert code == 0, out
    assert ", 0 reached but never held, 0 never reached (" in out


def test_coverage_strict_fails_on_a_rule_that_never_held(policy_copy, capsys):
    path = policy_copy / "enterprise.polar"
    text = path.read_text()
    # Asked whenever ends_no_later is, and never true: reached, never held.
    path.write_text(
        text + '\nends_no_later(_terms: Terms, grant: Grant) if\n  grant.role = "none";\n'
    )
    line = len(text.splitlines()) + 2
    args = ("policy", "coverage", "--policy-dir", str(policy_copy))

    assert run_cli(capsys, *args)[0] == 0  # reached is enough without --strict
    code, out, _err = run_cli(capsys, *args, "--strict")

    assert code == 1
    assert f"  {line}  reached, never held" in out
    assert ", 1 reached but never held, 0 never reached (" in out


def test_coverage_of_a_policy_that_does_not_load_exits_2(policy_copy, capsys):
    change_rule(policy_copy, '"agent" if "client_agent";', '"agent" if "client_agent"')

    code, out, err = run_cli(capsys, "policy", "coverage", "--policy-dir", str(policy_copy))

    assert code == 2
    assert err.startswith("error: policy does not load:") and err.count("\n") == 1
    assert "Traceback" not in out + err

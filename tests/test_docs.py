"""The documentation: docs/ builds strictly, the README stays a front page, settings are documented.

``mkdocs build --strict`` (mkdocs.yml) turns every warning into a failure: a link to a page or
an anchor that does not exist, a page left out of the navigation. The README is the front page:
at most 80 lines, opening with the two commands a newcomer runs first. Every ``MONESPACE_*``
variable the code reads is documented in docs/, and docs/ names no variable the code does not
read, so the configuration reference cannot drift from the code in either direction.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from idp_bridge.upstreams import registry
from monespace import cli
from monespace import config as config_module

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README_MAX_LINES = 80
FIRST_COMMANDS = (
    "pip install -e . && monespace serve ",
    "pip install -e '.[test]' && pytest -n auto ",
)
# Where the code may read a MONESPACE_* variable by name (besides monespace.config's settings).
CODE_DIRS = ("authz", "policies", "idp_bridge", "admin_ui", "monespace", "loadtests", "tests")
ENV_READ = re.compile(r"""(?:environ(?:\.get)?|getenv)\s*[(\[]\s*["'](MONESPACE_[A-Z0-9_]+)["']""")
DOCUMENTED = re.compile(r"\bMONESPACE_[A-Z0-9_]*[A-Z0-9]\b")
# The build .ci/run makes. Never with --quiet or --verbose: mkdocs 1.6 then no longer counts the
# warnings that --strict turns into failures, and a broken link passes (mkdocs issues #4126,
# #3991).
BUILD = "mkdocs build --strict"


def _build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *BUILD.split()[1:], "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documentation_builds_without_a_warning(tmp_path):
    result = _build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("[a page that is not there](no-such-page.md)", "no-such-page.md"),
        ("[an anchor that is not there](configuration.md#no-such-heading)", "no-such-heading"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path, broken, named):
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + f"\n{broken}\n")
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


def test_a_page_left_out_of_the_navigation_fails_the_build(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    (project / "docs" / "orphan.md").write_text("# Orphan\n")
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stdout + result.stderr


def test_ci_builds_the_documentation_strictly():
    builds = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("mkdocs ")
    ]
    assert builds == [BUILD]


def test_the_readme_is_a_front_page_that_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move text to docs/"
    assert lines[0].startswith("# ")
    block_start = next(i for i, line in enumerate(lines) if line.startswith("```"))
    assert lines[block_start] == "```sh"
    assert all(not line.strip() for line in lines[1:block_start]), "the commands come first"
    for line, command in zip(lines[block_start + 1 :], FIRST_COMMANDS, strict=False):
        assert line.startswith(command), f"{line!r} should start with {command!r}"
    assert lines[block_start + 3] == "```"


def test_the_two_commands_are_true():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["monespace"] == "monespace.cli:main"
    assert "serve" in cli.cli.commands
    test_extra = " ".join(project["optional-dependencies"]["test"])
    assert "pytest>=" in test_extra and "pytest-xdist" in test_extra  # pytest -n auto


def test_the_readme_links_only_to_pages_that_exist():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert targets, "the README links into docs/"
    assert [t for t in targets if not (ROOT / t).is_file()] == []


def _setting_variables() -> set[str]:
    """The variables of monespace.config: MONESPACE_ and each setting's name in upper case."""
    names = getattr(config_module, "DEFAULTS", None)
    if names is None:  # settings declared as a typed model (pydantic-settings)
        names = {
            field
            for value in vars(config_module).values()
            if isinstance(value, type) and value.__module__ == config_module.__name__
            for field in getattr(value, "model_fields", {})
        }
    prefix = getattr(config_module, "ENV_PREFIX", "MONESPACE_")
    # Each built-in upstream login declares its own settings, read as <name>_<field>.
    names = set(names) | {
        f"{plugin.name}_{field}"
        for plugin in registry.load().values()
        for field in plugin.settings.model_fields
    }
    return {prefix + name.upper() for name in names} | {
        config_module.CONFIG_FILE_VARIABLE,
        config_module.SECRETS_DIR_VARIABLE,
    }


def _variables_read_by_name() -> set[str]:
    found = set()
    for directory in CODE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            found.update(ENV_READ.findall(path.read_text()))
    return found


def _documented_variables() -> set[str]:
    return {name for page in DOCS.glob("*.md") for name in DOCUMENTED.findall(page.read_text())}


def test_the_variables_are_found():
    settings = _setting_variables()
    assert {"MONESPACE_MODE", "MONESPACE_DATABASE_URL", "MONESPACE_CONFIG"} <= settings
    assert "MONESPACE_TEST_POSTGRES_URL" in _variables_read_by_name()


def test_every_variable_the_code_reads_is_documented():
    read = _setting_variables() | _variables_read_by_name()
    assert sorted(read - _documented_variables()) == []


def test_the_documentation_names_no_variable_the_code_does_not_read():
    read = _setting_variables() | _variables_read_by_name()
    assert sorted(_documented_variables() - read) == []

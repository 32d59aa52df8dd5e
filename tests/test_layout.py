"""The layout of tests/: a test module is named after the module it tests, and shared fixtures
live in conftest.py files, never imported by a test module.

``tests/a/b/test_c.py`` tests ``a/b/c.py`` (or the package ``a/b/c/``). The suites that cross
the packages (``CROSS_CUTTING``) are free of the rule; the few modules inside the mirrored
directories that test a behaviour rather than one module are listed in ``EXCEPTIONS``, each with
its reason. Fixtures go to the conftest.py of the narrowest directory whose tests use them
(tests/conftest.py across directories); helpers the tests import stay plain modules named for
what they hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Spelled in two, so that a grep for either finds only what this test is there to refuse.
UNUSED_IMPORT_KEPT = "noqa: " + "F401"
FIXTURES_MODULE = "_" + "world.py"  # the former modules of fixtures imported by the tests

# Suites across the packages: each module is named after what it exercises end to end.
CROSS_CUTTING = (
    "tests/browser",
    "tests/conformance",
    "tests/test_deploy.py",
    "tests/flows",
    "tests/fuzz",
    "tests/test_dashboard.py",
    "tests/test_docs.py",
    "tests/test_layout.py",
    "tests/test_packaging.py",
)

# Test modules of the mirrored directories that are not named after one module, and why.
EXCEPTIONS = {
    "tests/admin_ui/test_bad_input.py": "every form of admin_ui/ given input it does not expect",
    "tests/admin_ui/test_own_access_pages.py": "the own-access rules as the manage pages word them",
    "tests/authz/services/test_errors.py": "authz/errors.py as the services raise them",
    "tests/authz/services/test_own_access.py": "the policy's may_decide/may_give on every service",
    "tests/authz/services/test_published_events.py": "what every service publishes (authz/events)",
    "tests/authz/test_api_search.py": "the decision API's searches, beside test_api.py",
    "tests/idp_bridge/test_web_attacks.py": "idp_bridge/web.py under attack, beside test_web.py",
    "tests/idp_bridge/upstreams/test_eid_attacks.py": "eid.py and saml_checks.py under attack",
    "tests/idp_bridge/upstreams/test_fixed_login.py": "a test-only upstream proves the contract",
    "tests/monespace/test_protocol_errors.py": "the JSON error format of every protocol edge",
    "tests/policies/test_truth_table.py": "policies/truth_table.toml, a data file",
}


def misnamed(root: Path) -> list[str]:
    """The test modules of the mirrored directories named after no module of the project."""
    found = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        name = path.relative_to(root).as_posix()
        if name in EXCEPTIONS or any(
            name == place or name.startswith(place + "/") for place in CROSS_CUTTING
        ):
            continue
        *package, module = path.relative_to(root / "tests").parts
        target = root.joinpath(*package, module.removeprefix("test_").removesuffix(".py"))
        if not (target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()):
            tested = target.relative_to(root).as_posix()
            found.append(f"{name}: tests no module {tested}.py nor package {tested}/")
    return found


def fixture_names(path: Path) -> set[str]:
    """Names under which ``path`` defines pytest fixtures (``@pytest.fixture``, ``name=``)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            if ast.unparse(call.func if call else decorator) not in ("pytest.fixture", "fixture"):
                continue
            names.add(node.name)
            for keyword in call.keywords if call else ():
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(keyword.value.value)
    return names


def imported_fixtures(root: Path, path: Path) -> list[str]:
    """``module.name`` of each fixture that ``path`` imports from a module of tests/."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.")):
            continue
        source = root.joinpath(*node.module.split("."))
        source = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
        if source.is_file():
            fixtures = fixture_names(source)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in fixtures]
    return found


def layout_problems(root: Path) -> list[str]:
    """What in ``root``/tests/ breaks the layout, one line each."""
    problems = misnamed(root)
    for path in sorted((root / "tests").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if path.name.endswith(FIXTURES_MODULE):
            problems.append(f"{name}: fixtures go to a conftest.py, helpers to a named module")
        if path.name.startswith("test_") and UNUSED_IMPORT_KEPT in path.read_text(encoding="utf-8"):
            problems.append(f"{name}: an unused import kept by {UNUSED_IMPORT_KEPT}")
        problems += [f"{name}: imports the fixture {f}" for f in imported_fixtures(root, path)]
    return problems


def test_the_tests_follow_the_layout():
    assert layout_problems(ROOT) == []


def test_every_exception_names_a_test_module_that_exists():
    assert [name for name in (*EXCEPTIONS, *CROSS_CUTTING) if not (ROOT / name).exists()] == []


def test_each_kind_of_mistake_is_reported(tmp_path):
    def write(name: str, text: str = "") -> None:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    write("authz/mandates.py")
    write("authz/api/__init__.py")
    write("tests/authz/test_mandates.py")
    write("tests/authz/test_api.py")
    write("tests/flows/test_a_whole_login.py")
    assert layout_problems(tmp_path) == []

    helpers = "people" + FIXTURES_MODULE.removesuffix(".py")  # a module holding a fixture
    write("tests/authz/test_mandate.py")
    write(f"tests/authz/{helpers}.py", "import pytest\n@pytest.fixture\ndef marc(): ...\n")
    write(
        "tests/authz/test_espaces.py",
        f"from tests.authz.{helpers} import marc  # {UNUSED_IMPORT_KEPT}\n",
    )
    assert sorted(layout_problems(tmp_path)) == [
        f"tests/authz/{helpers}.py: fixtures go to a conftest.py, helpers to a named module",
        f"tests/authz/test_espaces.py: an unused import kept by {UNUSED_IMPORT_KEPT}",
        f"tests/authz/test_espaces.py: imports the fixture tests.authz.{helpers}.marc",
        "tests/authz/test_espaces.py: tests no module authz/espaces.py nor package authz/espaces/",
        "tests/authz/test_mandate.py: tests no module authz/mandate.py nor package authz/mandate/",
    ]

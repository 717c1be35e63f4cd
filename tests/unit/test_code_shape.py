"""The code keeps the shape the team agreed on: small modules, and activities called by typed reference."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the system's own code; test modules are lists of scenarios and may run longer
PACKAGES = ("activities", "domain", "integrations", "starter", "store", "workflows")
MAX_LINES = 400


def project_modules() -> list[Path]:
    found = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return sorted([*found, ROOT / "worker.py"])


@pytest.mark.parametrize("module", project_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(module: Path) -> None:
    # given a module of the project, when its lines are counted, then it stays small enough to read at once
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(ROOT)} has {lines} lines: split it by what its parts do"


def calls_by_name(module: Path) -> list[str]:
    """`workflow.execute_local_activity("name", ...)` and the like: activities named by string."""
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        named = ("execute_local_activity", "execute_activity", "start_local_activity")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in named:
            found.append(f"{module.name}:{node.lineno}")
    return found


def test_the_order_workflow_calls_its_activities_by_typed_reference() -> None:
    # given the order workflow's modules (the legacy type keeps the calls it was recorded with)
    modules = [p for p in (ROOT / "workflows").glob("*.py") if p.name != "reference.py"]
    # when their activity calls are read, then each names an activity method, so its argument and result are typed
    assert modules
    assert [call for m in modules for call in calls_by_name(m)] == []

"""The README a new user follows and the CI entry point that runs the suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.peers import require_module, unavailable

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()


def test_quick_start_is_exactly_two_commands() -> None:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    assert block.group(1).splitlines() == ["make demo", "make test"]


def test_readme_says_how_to_run_pacslink_after_make() -> None:
    assert ".venv/bin/pacslink" in README
    assert "source .venv/bin/activate" in README


def test_readme_links_only_to_files_in_the_repository() -> None:
    assert "../shared" not in README
    assert "tests/test_layering.py" in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_readme_says_global_options_go_before_or_after_the_command() -> None:
    assert "before or after the" in README and "pacslink ae list --home DIR" in README


def test_ci_sets_ci_before_running_the_tests_and_installs_the_peers() -> None:
    commands = [line.strip() for line in CI_RUN.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "export CI=true" in commands
    assert commands.index("export CI=true") < commands.index("make test")
    (install,) = [c for c in commands if c.startswith("apt-get install")]
    for package in ("dcmtk", "orthanc", "dicom3tools", "postgresql"):
        assert package in install.split(), install


def test_missing_peer_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_module("pacslink_no_such_module")
    with pytest.raises(pytest.fail.Exception):
        unavailable("PostgreSQL server binaries (pg_ctl, initdb) not found")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_module("pacslink_no_such_module")
    assert require_module("json").__name__ == "json"


def test_peer_guards_go_through_the_ci_aware_helpers() -> None:
    """PostgreSQL (tests/store) and pynetdicom are required like DCMTK: no plain skips."""
    tests = ROOT / "tests"
    plain_skip = "importorskip" + "("
    for path in sorted(tests.rglob("*.py")):
        assert plain_skip not in path.read_text(), f"{path}: use tests.peers.require_module"
    conftest = (tests / "store" / "conftest.py").read_text()
    assert "pytest.skip(" not in conftest and "unavailable(" in conftest

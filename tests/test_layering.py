"""Runtime imports point downward only (docs/architecture.md, "Layers").

The checker reads every module of ``src/pacslink`` with :mod:`ast`, resolves absolute and
relative imports (including imports inside functions), skips ``if TYPE_CHECKING:`` blocks
(upward references for type hints are allowed), and reports each forbidden edge as
``path:line: importer imports imported: rule``.

A new module must be given a layer in ``LAYERS`` below, or it escapes every rule.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import pacslink

PACKAGE_DIR = Path(pacslink.__file__).parent

#: Layer of each top-level module or subpackage of ``pacslink``.
LAYERS = {
    "errors": "core",
    "models": "core",
    "config": "domain",
    "aetitle": "domain",
    "aeregistry": "domain",
    "conformance": "domain",
    "identifiers": "domain",
    "identifier_reader": "domain",
    "query_dictionary": "domain",
    "vr": "domain",
    "imaging": "domain",
    "samples": "domain",
    "dicomnet": "dicomnet",
    "services": "services",
    "store": "store",
    "api": "api",
    "cli": "cli",
    "web": "web",
    "__main__": "cli",
}

FRONT_ENDS = {"cli", "web"}
BELOW_API = {"core", "domain", "dicomnet", "services", "store"}
ENGINE_MAY_IMPORT = set(sys.stdlib_module_names) | {"pydicom"}


@dataclass(frozen=True)
class Violation:
    """One forbidden import edge."""

    path: str
    line: int
    importer: str
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}: {self.rule}"


def layer_of(module: str) -> str | None:
    """``"store"`` for ``pacslink.store.index``; ``"package"`` for ``pacslink`` itself."""
    parts = module.split(".")
    if parts[0] != "pacslink":
        return None
    if len(parts) == 1:
        return "package"
    return LAYERS.get(parts[1], "unknown")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(
    source: str,
    module: str,
    is_package: bool = False,
    submodules: frozenset[str] = frozenset(LAYERS),
) -> list[tuple[int, str]]:
    """Return ``(line, imported module)`` for every import executed at run time.

    Parameters
    ----------
    source : str
        The module's code.
    module : str
        Its dotted name, to resolve relative imports.
    is_package : bool
        The code is a package's ``__init__``.
    submodules : frozenset of str
        Names under ``pacslink`` that are modules, so ``from pacslink import api`` is
        read as importing ``pacslink.api`` and ``from pacslink import __version__`` as
        importing ``pacslink``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    is_module = target != "pacslink" or alias.name in submodules
                    found.append((node.lineno, candidate if is_module else target))
            visit_children(node)

    def visit_children(node: ast.AST) -> None:
        # statements nest in statements (def, class, with ...) and in a few other nodes
        # (except handlers, match cases); expressions never hold statements
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                visit([child])
            else:
                visit_children(child)

    visit(ast.parse(source).body)
    return found


def rule_broken(importer: str, imported: str) -> str | None:
    """Return the rule an ``importer -> imported`` edge breaks, or ``None``."""
    source, target = layer_of(importer), layer_of(imported)
    top = imported.split(".")[0]
    if source == "dicomnet":
        if target == "dicomnet" or (target is None and top in ENGINE_MAY_IMPORT):
            return None
        return "dicomnet imports only the standard library and pydicom"
    if {source, target} == {"services", "store"}:
        return "services and store never import each other (api wires them)"
    if source in BELOW_API | {"api", "package"} and target in FRONT_ENDS:
        return "only front-ends import cli and web"
    if source in BELOW_API and target == "api":
        return "layers below the api never import it"
    if source in FRONT_ENDS and (target == "dicomnet" or top in {"sqlite3", "sqlalchemy"}):
        return "cli and web never import dicomnet, sqlite3 or SQLAlchemy (go through api)"
    if source == "core" and target is not None and target != "core":
        return "errors and models import nothing from pacslink but each other"
    if source == "domain" and target in {"services", "store"}:
        return "config, conformance, identifiers and imaging never import services or store"
    return None


def check_source(
    source: str,
    module: str,
    path: str = "<string>",
    is_package: bool = False,
    submodules: frozenset[str] = frozenset(LAYERS),
) -> list[Violation]:
    """Every forbidden edge of one module."""
    violations = []
    for line, imported in runtime_imports(source, module, is_package, submodules):
        rule = rule_broken(module, imported)
        if rule is not None:
            violations.append(Violation(path, line, module, imported, rule))
    return violations


def module_name(path: Path) -> tuple[str, bool]:
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def package_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_no_forbidden_import_edges() -> None:
    submodules = frozenset(p.stem for p in PACKAGE_DIR.iterdir() if p.suffix == ".py" or p.is_dir())
    violations: list[Violation] = []
    for path in package_modules():
        module, is_package = module_name(path)
        source = path.read_text(encoding="utf-8")
        shown = str(path.relative_to(PACKAGE_DIR.parent.parent))
        violations += check_source(source, module, shown, is_package, submodules)
    assert not violations, "forbidden imports:\n" + "\n".join(map(str, violations))


def test_every_module_has_a_layer() -> None:
    unknown = sorted(
        module_name(path)[0]
        for path in package_modules()
        if layer_of(module_name(path)[0]) == "unknown"
    )
    assert not unknown, f"add these to LAYERS in {Path(__file__).name}: {unknown}"


# --- the checker catches what it should ------------------------------------------------


@pytest.mark.parametrize(
    ("module", "source", "imported"),
    [
        ("pacslink.cli.send", "import sqlalchemy", "sqlalchemy"),
        ("pacslink.cli.send", "import sqlite3", "sqlite3"),
        ("pacslink.web.app", "from sqlalchemy.engine import Engine", "sqlalchemy.engine.Engine"),
        ("pacslink.cli.echo", "from pacslink.dicomnet import pdu", "pacslink.dicomnet.pdu"),
        (
            "pacslink.cli.echo",
            "from ..dicomnet.server import DicomServer",
            "pacslink.dicomnet.server.DicomServer",
        ),
        ("pacslink.services.scp", "from ..store import index", "pacslink.store.index"),
        ("pacslink.store.ingest", "import pacslink.services.scp", "pacslink.services.scp"),
        ("pacslink.store.ingest", "from pacslink import api", "pacslink.api"),
        (
            "pacslink.services.scu",
            "from pacslink.cli.common import get_state",
            "pacslink.cli.common.get_state",
        ),
        ("pacslink.dicomnet.pdu", "import numpy", "numpy"),
        (
            "pacslink.dicomnet.pdu",
            "from pacslink.errors import PacslinkError",
            "pacslink.errors.PacslinkError",
        ),
        ("pacslink.dicomnet.pdu", "from pacslink import __version__", "pacslink"),
        ("pacslink.dicomnet.pdu", "from .. import config", "pacslink.config"),
        ("pacslink.models", "from pacslink.config import Settings", "pacslink.config.Settings"),
        ("pacslink.errors", "from . import conformance", "pacslink.conformance"),
        ("pacslink.config", "from pacslink.store import Index", "pacslink.store.Index"),
        ("pacslink.conformance", "import pacslink.services", "pacslink.services"),
        ("pacslink.api", "from pacslink.web import app", "pacslink.web.app"),
    ],
)
def test_checker_catches_a_forbidden_import(module: str, source: str, imported: str) -> None:
    violations = check_source(source, module)
    assert [v.imported for v in violations] == [imported]
    assert str(violations[0]).startswith(f"<string>:1: {module} imports {imported}: ")


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pacslink.dicomnet.pdu", "import asyncio\nimport pydicom\nfrom pydicom.uid import UID"),
        ("pacslink.dicomnet.pdu", "from . import status\nfrom .errors import NetworkError"),
        ("pacslink.services.scp", "from pacslink.dicomnet.server import DicomServer"),
        ("pacslink.api", "import pacslink.store\nfrom pacslink.services import scp"),
        ("pacslink.cli.main", "from pacslink import api, __version__\nimport typer"),
        ("pacslink.models", "from pacslink.errors import ConfigError\nfrom . import errors"),
        ("pacslink.config", "import tomlkit\nfrom pacslink.models import RemoteAE"),
        (
            "pacslink.services.scp",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pacslink.store import Index\n",
        ),
        (
            "pacslink.store.index",
            "import typing\nif typing.TYPE_CHECKING:\n    from pacslink.api import Pacslink\n",
        ),
    ],
)
def test_checker_allows_downward_imports(module: str, source: str) -> None:
    assert check_source(source, module) == []


def test_checker_sees_imports_in_functions_and_else_branches_with_line_numbers() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import sqlalchemy\n"
        "else:\n"
        "    import sqlite3\n"
        "def f() -> None:\n"
        "    try:\n"
        "        from pacslink.dicomnet import server\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    violations = check_source(source, "pacslink.cli.x", path="src/pacslink/cli/x.py")
    assert [(v.line, v.imported) for v in violations] == [
        (5, "sqlite3"),
        (8, "pacslink.dicomnet.server"),
    ]
    assert str(violations[1]) == (
        "src/pacslink/cli/x.py:8: pacslink.cli.x imports pacslink.dicomnet.server: cli and web "
        "never import dicomnet, sqlite3 or SQLAlchemy (go through api)"
    )


def test_relative_imports_of_a_package_init() -> None:
    assert runtime_imports(
        "from .pdu import x\nfrom .. import errors", "pacslink.dicomnet", True
    ) == [
        (1, "pacslink.dicomnet.pdu.x"),
        (2, "pacslink.errors"),
    ]

"""The tenant funnel holds: tenant-owned SQL is built and run only by `tenancy.scope`.

Like Polar's lint: every module of the four packages is parsed, and a statement on a
tenant-owned table built anywhere else fails this test, unless it sits in a function
marked `@system.wide("why")`, and that function is on the reviewed list below.
"""

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from api import app as _app  # noqa: F401  (imports every model and every system-wide path)
from tenancy import system
from tenancy.db import Base

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tenancy", "retrieval", "ingest", "api")
FUNNEL = "tenancy/scope.py"
SQL_BUILDERS = frozenset({"select", "update", "delete", "insert"})
SESSION_READS = frozenset({"get", "query", "merge", "get_one"})

# Reviewed: each of these crosses tenants on purpose (their reasons are in the code).
REVIEWED = frozenset(
    {
        "api.metrics._DocumentStates.collect",
        "api.ops.backup._counts",
        "api.ops.backup._referenced_blobs",
        "ingest.backfill._stale",
        "ingest.backpressure.depth",
        "ingest.erasure._pending",
        "ingest.leases.claim",
        "ingest.leases.release",
        "ingest.leases.renew",
        "ingest.leases.requeue_orphans",
        "ingest.pipeline.load",
        "tenancy.audit._append_system",
        "tenancy.audit._system_chain",
        "tenancy.audit.heads",
        "tenancy.audit._tenant_heads",
        "tenancy.audit._verify_system",
        "tenancy.keys._by_hash",
        "tenancy.operators.issue",
        "tenancy.operators.list_all",
    }
)


@dataclass(frozen=True)
class Violation:
    """Where and how a module reaches tenant-owned rows around the scope."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@cache
def owned_models() -> frozenset[str]:
    """Class names of every mapped table with a `tenant_id` column."""
    return frozenset(
        m.class_.__name__ for m in Base.registry.mappers if "tenant_id" in m.local_table.c
    )


@cache
def owned_tables() -> frozenset[str]:
    """Table names of the same."""
    return frozenset(t.name for t in Base.metadata.tables.values() if "tenant_id" in t.c)


class Checker(ast.NodeVisitor):
    """Collects the ways one module reaches around the funnel."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[Violation] = []
        self._exempt = 0  # inside a system-wide function or a `prepared(...)` statement

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        wide = any(_is_wide(decorator) for decorator in node.decorator_list)
        self._exempt += wide
        self.generic_visit(node)
        self._exempt -= wide

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 (ast.NodeVisitor's name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._exempt and node.attr == "tenant_id" and _names_owned(node.value):
            self._flag(node, "compares a tenant-owned table's tenant_id by hand")
        if not self._exempt and node.attr == "session" and _is_scope(node.value):
            self._flag(node, "reaches around the scope to its session")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        prepared = _callee(node) == "prepared"
        self._exempt += prepared
        if not self._exempt:
            self._check_call(node)
        self.generic_visit(node)
        self._exempt -= prepared

    def _check_call(self, node: ast.Call) -> None:
        callee = _callee(node)
        mentions = any(_mentions_owned(arg) for arg in node.args)
        on_scope = _is_scope(getattr(node.func, "value", None))
        if callee in SQL_BUILDERS and mentions and not on_scope:
            self._flag(node, f"builds {callee}() on a tenant-owned table outside the scope")
        if callee in SESSION_READS and node.args and _names_owned(node.args[0]) and not on_scope:
            self._flag(node, f"loads a tenant-owned row with session.{callee}()")
        if callee in owned_models() and any(k.arg == "tenant_id" for k in node.keywords):
            self._flag(node, "stamps tenant_id on a new row instead of scope.add/insert")
        if callee == "filter_by" and any(k.arg == "tenant_id" for k in node.keywords):
            self._flag(node, "filters on tenant_id by hand")
        if callee == "text" and any(_quotes_owned_table(arg) for arg in node.args):
            self._flag(node, "raw SQL on a tenant-owned table")

    def _flag(self, node: ast.AST, what: str) -> None:
        self.found.append(Violation(self.path, getattr(node, "lineno", 0), what))


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_wide(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute | ast.Name) and (
        getattr(target, "attr", None) == "wide" or getattr(target, "id", None) == "wide"
    )


def _is_scope(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "scope"
    return isinstance(node, ast.Attribute) and node.attr == "scope"


def _names_owned(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in owned_models()


def _mentions_owned(node: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id in owned_models() for n in ast.walk(node))


def _quotes_owned_table(node: ast.expr) -> bool:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    words = set(node.value.lower().replace(",", " ").replace("(", " ").split())
    return bool(words & owned_tables())


def violations(source: str, path: str) -> list[Violation]:
    """Every bypass of the funnel in one module's source."""
    checker = Checker(path)
    checker.visit(ast.parse(source))
    return checker.found


def modules() -> Iterator[Path]:
    """The package modules the funnel rule applies to."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() != FUNNEL:
                yield path


def wide_functions(source: str, module: str) -> set[str]:
    """Qualified names of the functions a module marks system-wide."""
    names: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                _is_wide(d) for d in child.decorator_list
            ):
                names.add(f"{module}.{prefix}{child.name}")

    visit(ast.parse(source), "")
    return names


def test_no_module_reaches_tenant_rows_around_the_scope() -> None:
    found = [
        str(v)
        for path in modules()
        for v in violations(path.read_text(), path.relative_to(ROOT).as_posix())
    ]
    assert found == []


def test_system_wide_paths_are_the_reviewed_ones() -> None:
    marked = set()
    for path in modules():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        marked |= wide_functions(path.read_text(), module)
    assert marked == REVIEWED
    assert set(system.paths()) == REVIEWED  # imported, so each carries its reason
    assert all(reason.strip() for reason in system.paths().values())


PLANTED = [
    (
        """
        def f(session, t):
            return session.scalars(select(Document).where(Document.tenant_id == t))
        """,
        {"compares a tenant-owned table's tenant_id by hand", "builds select()"},
    ),
    ("def f(scope):\n    return scope.session.execute('x')\n", {"reaches around the scope"}),
    ("def f(ctx):\n    return ctx.scope.session\n", {"reaches around the scope"}),
    (
        """
        def f(s, ids):
            s.execute(delete(Chunk).where(Chunk.id.in_(ids)))
        """,
        {"builds delete()"},
    ),
    ("def f(session, i):\n    return session.get(SearchRecord, i)\n", {"session.get()"}),
    ("def f(t):\n    return Chunk(tenant_id=t, text='x')\n", {"stamps tenant_id"}),
    ("def f(q, t):\n    return q.filter_by(tenant_id=t)\n", {"filters on tenant_id"}),
    ("def f(s):\n    s.execute(text('DELETE FROM chunks'))\n", {"raw SQL"}),
    (
        """
        @other.decorator
        def f(session):
            return session.scalars(select(Document))
        """,
        {"builds select()"},
    ),
]


@pytest.mark.parametrize(("source", "expected"), PLANTED)
def test_a_planted_bypass_fails_the_check(source: str, expected: set[str]) -> None:
    found = {v.what for v in violations(textwrap.dedent(source), "planted.py")}
    for fragment in expected:
        assert any(fragment in what for what in found), (fragment, found)


ALLOWED = [
    """
    def f(scope, ids):
        return scope.all(scope.select(Document).where(Document.id.in_(ids)))
    """,
    "Q = prepared(select(Chunk.id).join(Document, Document.id == Chunk.document_id))\n",
    "@system.wide('why')\ndef f(session):\n    return session.scalars(select(Document))\n",
    "def f(hit, expected):\n    return hit.tenant_id != expected\n",
]


@pytest.mark.parametrize("source", ALLOWED)
def test_the_funnels_own_ways_pass_the_check(source: str) -> None:
    assert violations(textwrap.dedent(source), "allowed.py") == []

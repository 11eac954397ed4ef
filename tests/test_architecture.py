"""Rules that stay true, read from the source (AST): no lower layer imports a higher one, and every
call of an Ona method names only fields the schema has."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bot.ona.methods import OrganizationMethods

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"bot/ona/models.py", "bot/ona/rules.py", "bot/ona/methods.py"}

# (modules, what they must not import, why)
LAYERS = [
    ("bot/ona/", ("slack_sdk", "slack_bolt", "bot.app", "bot.approvals", "bot.blocks", "bot.context", "commands"),
     "the Ona client and emulator know nothing of Slack or of the bot"),
    ("commands/", ("slack_bolt", "bot.app", "bot.server", "bot.bootstrap"),
     "commands are plain functions on a Context; Bolt wiring is bot/app.py's"),
    ("bot/approvals/", ("commands", "slack_bolt", "bot.app"), "the approval flow does not depend on the commands"),
    ("bot/approvals/views.py", ("httpx", "sqlite3", "sqlite_utils", "slack_sdk.web", "bot.ona.client"),
     "rendering does no I/O"),
    ("bot/blocks.py", ("httpx", "sqlite3", "sqlite_utils", "slack_sdk.web", "bot.ona.client"), "rendering does no I/O"),
    ("bot/replies.py", ("httpx", "sqlite3", "sqlite_utils", "slack_sdk.web", "bot.ona.client"),
     "rendering does no I/O"),
]


def sources() -> list[Path]:
    return [p for folder in ("bot", "commands") for p in sorted((ROOT / folder).rglob("*.py"))
            if str(p.relative_to(ROOT)) not in GENERATED]


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def layer_violations(path: Path, rel: str) -> list[str]:
    out = []
    for prefix, forbidden, why in LAYERS:
        if not rel.startswith(prefix):
            continue
        for line, module in imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{rel}:{line} imports {module}: {why}")
    return out


def test_no_lower_layer_imports_a_higher_one() -> None:
    found = [v for path in sources() for v in layer_violations(path, str(path.relative_to(ROOT)))]
    assert not found, "\n".join(found)


def test_the_layer_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "client.py"
    bad.write_text("def f():\n    from slack_sdk import WebClient\n")
    assert layer_violations(bad, "bot/ona/client.py") == [
        "bot/ona/client.py:2 imports slack_sdk: the Ona client and emulator know nothing of Slack or of the bot",
        "bot/ona/client.py:2 imports slack_sdk.WebClient: the Ona client and emulator know nothing of Slack or "
        "of the bot"]


# --- typed Ona methods: a misspelt field fails here, not at run time --------------------------------

METHODS = {name: set(inspect.signature(fn).parameters) - {"self", "request"}
           for name, fn in vars(OrganizationMethods).items() if callable(fn) and not name.startswith("_")}


def misspelt_fields(source: str, where: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
            for keyword in node.keywords:
                if keyword.arg is not None and keyword.arg not in METHODS[node.func.attr]:
                    out.append(f"{where}:{node.lineno} {node.func.attr}({keyword.arg}=…): no such field")
    return out


def test_every_ona_call_names_only_fields_of_its_request() -> None:
    found = [m for path in sources() for m in misspelt_fields(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("call", "bad"), [("ona.set_role(user='u1', role=r)", 1),
                                           ("ona.set_role(user_id='u1', role=r)", 0)])
def test_the_field_check_catches_a_misspelling(call: str, bad: int) -> None:
    assert len(misspelt_fields(call, "x.py")) == bad


# --- modules that read as one thing each ----------------------------------------------------------

MAX_LINES = 400
# Split in progress (issue 14): being split by other engineers in parallel; remove when merged.
SPLIT_IN_PROGRESS: set[str] = set()  # every module is split now (issue 14)


def too_long(paths: list[Path], limit: int = MAX_LINES) -> list[str]:
    out = []
    for path in paths:
        lines = len(path.read_text().splitlines())
        if lines > limit:
            out.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {lines} lines "
                       f"(at most {limit}: split it by what each part does)")
    return out


def test_no_module_outside_generated_code_exceeds_the_line_limit() -> None:
    """Generated modules (GENERATED) are exempt; `sources()` leaves them out."""
    found = too_long([p for p in sources() if str(p.relative_to(ROOT)) not in SPLIT_IN_PROGRESS])
    assert not found, "\n".join(found)


def test_the_line_check_catches_a_long_module(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    long.write_text("x = 1\n" * (MAX_LINES + 1))
    short = tmp_path / "short.py"
    short.write_text("x = 1\n" * MAX_LINES)
    assert too_long([long, short]) == [f"{long}: {MAX_LINES + 1} lines (at most {MAX_LINES}: split it by what "
                                       "each part does)"]


# --- no import circles: what a module imports when it loads never leads back to it ------------------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(source: str, known: set[str]) -> set[str]:
    """The project modules a module imports as it loads: top-level statements only (an import inside a
    function, or under `if TYPE_CHECKING:`, runs later or never)."""
    found: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & known
            # `from pkg import sub` loads the submodule; the package itself only when a name is its own.
            found |= submodules or ({node.module} & known)
    return found


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    circles, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            circles.append([*path[path.index(module):], module])
            return
        if module in done:
            return
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            visit(dep)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return circles


def test_no_import_circles() -> None:
    paths = {module_name(p): p for folder in ("bot", "commands") for p in (ROOT / folder).rglob("*.py")}
    # A package's __init__ is loaded before its modules, so a module naming its own package is no circle.
    graph = {name: {m for m in load_time_imports(path.read_text(), set(paths)) if not f"{name}.".startswith(f"{m}.")}
             for name, path in paths.items()}
    circles = import_circles(graph)
    assert not circles, "\n".join(" → ".join(c) for c in circles)


def test_the_circle_check_catches_a_circle() -> None:
    known = {"bot.a", "bot.b", "bot.c"}
    graph = {"bot.a": load_time_imports("from bot.b import x\n", known),
             "bot.b": load_time_imports("from bot import c\n", known),
             "bot.c": load_time_imports("import bot.a\nif TYPE_CHECKING:\n    from bot.b import y\n", known)}
    assert import_circles(graph) == [["bot.a", "bot.b", "bot.c", "bot.a"]]
    graph["bot.c"] = load_time_imports("def f():\n    import bot.a\n", known)
    assert import_circles(graph) == []


# --- approvals behind their public interface -----------------------------------------------------

def reaches_behind_approvals(source: str, where: str) -> list[str]:
    """Uses of a private attribute of the approval service (`….approvals._flow`) outside bot/approvals/."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.value, ast.Attribute)
                and node.value.attr == "approvals"):
            out.append(f"{where}:{node.lineno} reads approvals.{node.attr}")
    return out


def test_nothing_outside_the_approvals_package_reaches_behind_its_interface() -> None:
    found = [v for path in sources() if not str(path.relative_to(ROOT)).startswith("bot/approvals/")
             for v in reaches_behind_approvals(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, "\n".join(found)
    assert reaches_behind_approvals("ctx.services.approvals._flow.store\n", "x.py") == ["x.py:1 reads approvals._flow"]

"""The import rules of the README's "Layout" section, read from the source: prompts <- priors, renderers <-
dreamavatar; inference never reaches into training; no import cycles (function-local imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dreamavatar", "priors", "renderers", "prompts")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (annotations only: never imported at run time)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return skip


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports at run time (anywhere in the file)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                deps.update(filter(None, (owner(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{node.module}.{a.name}"
                    deps.add(sub if sub in modules else owner(node.module))
        graph[mod] = {d for d in deps if d and d != mod}
    return graph


def test_import_directions():
    graph = import_graph()
    assert "renderers.volume" in graph and "dreamavatar.render" in graph  # the scan sees the code
    for mod, deps in graph.items():
        top = mod.split(".")[0]
        allowed = {"prompts": ("prompts",), "priors": ("priors", "prompts"), "renderers": ("renderers",)}
        if top in allowed:
            assert all(d.split(".")[0] in allowed[top] for d in deps), (mod, deps)
        if not mod.startswith("dreamavatar.train") and mod != "dreamavatar.commands.generate":
            assert not {d for d in deps if d.startswith("dreamavatar.train")}, (mod, "imports training code")


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import cycle: " + " -> ".join(path[path.index(d) :] + [d])
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)

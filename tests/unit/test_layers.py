"""The project's modules form layers with no import circles.

Every import counts, also one inside a function: a circle there still ties
two modules together and breaks as soon as one of them is imported first
from somewhere new. A layer may use those below it and its own, never one
above it; docs/architecture.md has the map.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import PROJECT_ROOT

PACKAGES = ("bot", "actions", "rasa_sdk_plugins", "tools")
# Lowest first. A module belongs to the first entry that is its name or
# one of its packages.
LAYERS = [
    ("foundation", ["bot", "bot.settings", "bot.db", "bot.conversation_ids",
                    "bot.private_logs", "bot.private_files", "bot.rasa.version"]),
    ("schema and facts", ["bot.migrations", "bot.clinic"]),
    ("clinic features", ["bot.booking", "bot.handoff", "bot.notify",
                         "bot.conversations"]),
    ("clinic data", ["bot.privacy", "bot.nlp"]),
    ("channels", ["bot.channels"]),
    ("changes to Rasa", ["bot.rasa"]),
    ("console", ["bot.console"]),
    ("website", ["bot.web"]),
    ("running it", ["bot.ops", "bot.__main__"]),
    ("action server", ["actions", "rasa_sdk_plugins"]),
    ("developer tools", ["tools"]),
]  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(found: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of the project's modules, wherever they are."""

    def resolve(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in found.items():
        graph[name] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[
                        : len(package.split(".")) - node.level + 1
                    ]
                    base = ".".join([*parent, base] if base else parent)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                module = resolve(target)
                if module and module != name:
                    graph[name].add(module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int:
    best, depth = None, -1
    for number, (_, names) in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > depth:
                best, depth = number, len(name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return imports(modules())


def test_no_import_circles(graph):
    assert circles(graph) == []


def test_a_layer_never_imports_one_above_it(graph):
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == []


def test_the_checks_see_a_circle_and_an_upward_import():
    """The checks themselves work: a made-up circle and an upward import."""
    made_up = {"bot.db": {"bot.rasa.locks"}, "bot.rasa.locks": {"bot.db"}}
    assert circles(made_up) == [["bot.db", "bot.rasa.locks"]]
    assert layer_of("bot.db") < layer_of("bot.rasa.locks")


def test_every_module_is_in_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_the_map_in_the_architecture_doc_names_every_folder():
    doc = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    folders = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for package in PACKAGES
        for path in [PROJECT_ROOT / package, *(PROJECT_ROOT / package).rglob("*")]
        if path.is_dir() and (path / "__init__.py").exists()
    )
    missing = [folder for folder in folders if f"{folder}/" not in doc]
    assert missing == []

"""The layout's rules (docs/development.md): each app imports only the apps below it, and no module
imports, even from inside a function, a module that imports it back."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. An app may import its own modules and those of the apps on earlier lines; apps on
# the same line are peers that do not import each other. config/ is the composition root: nobody imports it.
LAYERS = [
    ["core"],
    ["crm"],
    ["segments"],
    ["loyalty", "recommendations"],
    ["nightly"],
    ["mailing", "audiences"],
    ["journeys"],
    ["analytics"],
    ["api"],
    ["privacy"],
    ["demo"],
    ["config"],
]
LEVEL = {app: level for level, apps in enumerate(LAYERS) for app in apps}


def _modules():
    for app in LEVEL:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(name, path, modules):
    """The project modules `name` imports, anywhere in its text (`from package import module` is the
    module, not the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _graph():
    modules = dict(_modules())
    return {name: {target for target in _imports(name, path, modules) if target in modules and target != name}
            for name, path in modules.items()}


def test_apps_import_only_the_apps_below_them():
    wrong = [f"{name} imports {target}" for name, targets in _graph().items() for target in targets
             if (a := name.split(".")[0]) != (b := target.split(".")[0]) and LEVEL[b] >= LEVEL[a]]
    assert wrong == []


def test_no_module_is_part_of_an_import_cycle():
    graph = _graph()
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []

"""The programs' import graph has no circle, and the gateway's rooms no arrow up.

Every module can be read after what it imports. The gateway is a house of floors: the
ground floor (``gateway.settings``, ``gateway.errors``, ...), then ``gateway.upstream``
(the only way to Serving), ``gateway.pipeline`` (upload file to verdict), ``gateway.jobs``
(durable jobs) and ``gateway.api`` (the HTTP edge, ``/v1/live`` included); a module
imports only its own floor and those below. Above them all is the door, the package
itself and ``python -m gateway``, which build the application from every floor.

Imports are read from the source (module level and inside functions alike, since a lazy
import is still an arrow on the map); imports under ``if TYPE_CHECKING:`` are left out, as
they never run. ``from package import module`` is an arrow to that module, not to the
package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = ("contract", "gateway", "serving", "model_export", "stack", "bench")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for program in PROGRAMS:
        for path in sorted((REPO / program).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]):  # type: ignore[no-untyped-def]
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names
        ]
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            yield name


def import_graph() -> dict[str, set[str]]:
    """Each module of the programs and the modules of the programs it imports."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only.update(id(sub) for sub in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in type_only or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            graph[name].update(_targets(name, path, node, known))
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_finder_sees_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_lazy_and_relative_imports() -> None:
    graph = import_graph()
    # A relative import of a sibling module, and one inside a function body.
    assert "gateway.errors" in graph["gateway.pipeline.detection"]
    assert "gateway.jobs.postgres_store" in graph["gateway.jobs.store"]
    assert "gateway.pipeline.detection" in graph["gateway.api.deps"]


def test_no_module_of_the_programs_imports_in_a_circle() -> None:
    graph = import_graph()
    found = circles(graph)
    detail = [
        " -> ".join(component)
        + "; arrows: "
        + ", ".join(f"{a}->{b}" for a in component for b in sorted(graph[a]) if b in component)
        for component in found
    ]
    assert not found, "modules that import each other, directly or around a circle:\n" + "\n".join(
        detail
    )


#: The gateway's floors, lowest first: a module imports its own floor and those below only.
FLOORS = {
    "ground": 0,
    "gateway.upstream": 1,
    "gateway.pipeline": 2,
    "gateway.jobs": 3,
    "gateway.api": 4,
    # The door: ``from gateway import create_app`` and ``python -m gateway``.
    "door": 5,
}
DOOR = {"gateway", "gateway.__main__"}
#: Floors that must never import the web framework (only the HTTP edge does).
WITHOUT_HTTP = ("ground", "gateway.upstream", "gateway.pipeline", "gateway.jobs")


def floor_of(module: str) -> str | None:
    """The floor a module of the gateway is on (None outside the gateway)."""
    if module in DOOR:
        return "door"
    if not module.startswith("gateway."):
        return None
    room = ".".join(module.split(".")[:2])
    return room if room in FLOORS else "ground"


def test_the_floors_are_read_from_the_module_names() -> None:
    assert floor_of("gateway.settings") == "ground"
    assert floor_of("gateway.upstream.serving_client") == "gateway.upstream"
    assert floor_of("gateway.api.live.route") == "gateway.api"
    assert floor_of("gateway.__main__") == "door"
    assert floor_of("contract.frames") is None


def test_no_module_of_the_gateway_imports_a_floor_above_its_own() -> None:
    graph = import_graph()
    arrows_up = []
    for module, targets in sorted(graph.items()):
        floor = floor_of(module)
        if floor is None:
            continue
        for target in sorted(targets):
            above = floor_of(target)
            if above is not None and FLOORS[above] > FLOORS[floor]:
                arrows_up.append(f"{module} ({floor}) -> {target} ({above})")
    assert not arrows_up, "imports of a floor above the importer's own:\n" + "\n".join(arrows_up)


def _third_party_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_http_edge_imports_fastapi_or_starlette() -> None:
    offenders = []
    for name, path in sorted(_modules().items()):
        if floor_of(name) not in WITHOUT_HTTP:
            continue
        found = _third_party_imports(path) & {"fastapi", "starlette"}
        if found:
            offenders.append(f"{name}: {', '.join(sorted(found))}")
    assert not offenders, "modules below the HTTP edge that import a web framework:\n" + "\n".join(
        offenders
    )

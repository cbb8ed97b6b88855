"""The shape of ``embedview.core``: its modules import each other without a cycle, and core never
reaches up into the layers built on it (model, runtime, actions, gui).

Read from the source by grimp (the graph import-linter checks), so an import inside a function
counts too: a cycle through a lazy import is still a cycle, only hidden until run time.
"""

from __future__ import annotations

import grimp
import pytest

CORE = "embedview.core"
ABOVE_CORE = ("embedview.model", "embedview.runtime", "embedview.actions", "embedview.gui")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("embedview")


def _core_edges(graph) -> dict[str, set[str]]:
    modules = {m for m in graph.modules if m == CORE or m.startswith(CORE + ".")}
    return {m: {x for x in graph.find_modules_directly_imported_by(m) if x in modules} for m in modules}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (or a module importing itself),
    each as a sorted list: Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    out.append(sorted(group))
    return out


def test_the_cycle_finder_finds_cycles():
    """The finder itself: a test that cannot fail proves nothing."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_core_modules(graph):
    edges = _core_edges(graph)
    assert f"{CORE}.checks" in edges and f"{CORE}.compare" in edges  # the graph really holds core
    cycles = find_cycles(edges)
    detail = [
        " -> ".join(graph.find_shortest_chain(importer=group[0], imported=group[1]) or group) for group in cycles
    ]
    assert cycles == [], "import cycles in embedview.core: " + "; ".join(detail)


@pytest.mark.parametrize("layer", ABOVE_CORE)
def test_core_never_imports_the_layers_above_it(graph, layer):
    if layer not in graph.modules:
        pytest.skip(f"{layer} does not exist")
    chain = graph.find_shortest_chain(importer=CORE, imported=layer, as_packages=True)
    assert chain is None, f"embedview.core reaches {layer}: {' -> '.join(chain)}"

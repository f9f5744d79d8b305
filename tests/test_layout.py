"""The package's shape (issue 13): no import cycles, dependencies one way
(modeling <- data <- engine / tracking <- evaluation <- CLIs), modules of one job."""
import ast
import os

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "guided_tracking")
# Lower layers never import higher ones (lazily either). compat/config/io/boxes/frames are
# the shared base; model_zoo (the shipped weights) sits beside tracking, which loads them.
LAYER = {"compat": 0, "config": 0, "io": 0, "boxes": 0, "frames": 0, "modeling": 1, "data": 2, "engine": 3, "tracking": 3,
         "model_zoo": 3, "evaluation": 4, "demo": 5,
         "export_onnx": 5}
MAX_LINES = 500


def _modules():
    """{module name: (path, is_package)} of every module of the package."""
    out = {}
    for dirpath, _, files in os.walk(PACKAGE_DIR):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if f == "__init__.py" else rel] = (path, f == "__init__.py")
    return out


def _imports(module, path, is_package, modules, top_level_only):
    """guided_tracking modules ``module`` imports (``from a import b`` counts b when b is a module)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    tree = ast.parse(open(path, encoding="utf-8").read())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base.startswith("guided_tracking"):
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("guided_tracking"))
    return {m for m in found if m in modules and m != module}


def _top(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(m, p, pkg, modules, top_level_only=True) for m, (p, pkg) in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_dependencies_point_one_way():
    modules = _modules()
    wrong = []
    for m, (path, pkg) in modules.items():
        a = _top(m)
        if a is None:
            continue  # guided_tracking/__init__ registers everything
        for n in _imports(m, path, pkg, modules, top_level_only=False):
            b = _top(n)
            if b is not None and a != b and LAYER[a] < LAYER[b]:
                wrong.append(f"{m} -> {n}")
    assert not wrong, "lower layer imports a higher one: " + ", ".join(sorted(wrong))
    assert set(LAYER) >= {_top(m) for m in modules if _top(m)}, "a new top-level module needs a layer"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_are_short_and_say_their_job(module):
    path, _ = _modules()[module]
    text = open(path, encoding="utf-8").read()
    rel = os.path.relpath(path, PACKAGE_DIR).replace(os.sep, "/")
    assert text.count("\n") <= MAX_LINES, f"{rel}: {text.count(chr(10))} lines (> {MAX_LINES})"
    assert ast.get_docstring(ast.parse(text)), f"{rel}: no module docstring saying its job"

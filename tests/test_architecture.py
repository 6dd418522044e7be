"""The package's layout: who may import whom, no cycles, small files (readers first)."""

import ast
import pathlib

import scratchcnn as sc

PACKAGE = pathlib.Path(sc.__file__).parent

#: For each part of the package, the parts it may import (besides itself).  Reading
#: order and dependencies agree: the textbook needs nothing, the fast kernels only the
#: textbook, the layers the kernels; the model, training, files and CLI sit on top.
MAY_IMPORT = {
    "textbook": set(),
    "reference": set(),
    "kernels": {"textbook"},
    "backend": {"textbook", "kernels"},
    "shapes": {"textbook"},
    "init": set(),
    "layers": {"backend", "kernels", "textbook", "init", "shapes"},
    "checker": {"reference"},  # a learner's code against the loops a reader trusts
}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside functions."""
    here = module_name(path).split(".") if module_name(path) else []
    package = here if path.name == "__init__.py" else here[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            prefix = base + (node.module.split(".") if node.module else [])
            names.update(".".join(prefix + [a.name]) for a in node.names)  # may be modules
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".", 1)[1] for a in node.names
                         if a.name.startswith("scratchcnn."))
    return {m for m in map(resolve, names) if m and m != module_name(path)}


def resolve(name: str) -> str | None:
    """The module a dotted name inside the package is (or is in), else None."""
    parts = name.split(".")
    while parts:
        candidate = PACKAGE.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {module_name(p): imports(p) for p in SOURCES}


def test_the_graph_was_read():
    assert GRAPH["layers.conv"] >= {"backend", "kernels"}
    assert "kernels.lines" in GRAPH["kernels.dispatch"]


def test_no_import_cycles():
    state: dict[str, str] = {}

    def visit(module, trail):
        state[module] = "open"
        for dep in GRAPH.get(module, ()):
            if dep.startswith(module + "."):  # a package imports its own modules
                continue
            assert state.get(dep) != "open", " -> ".join(trail + [module, dep])
            if dep not in state:
                visit(dep, trail + [module])
        state[module] = "done"
    for module in GRAPH:
        if module not in state:
            visit(module, [])


def test_each_part_imports_only_what_is_below_it():
    for module, deps in GRAPH.items():
        part = module.split(".")[0]
        if part not in MAY_IMPORT:
            continue
        outside = {d for d in deps if d.split(".")[0] not in MAY_IMPORT[part] | {part}}
        assert not outside, f"{module} imports {sorted(outside)}"


def test_no_source_file_is_over_400_lines_and_the_textbook_is_short():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in SOURCES}
    assert max(sizes.values()) <= 400, max(sizes.items(), key=lambda kv: kv[1])
    assert sizes["textbook"] <= 260  # grouped convolution and adaptive pooling joined it


def test_the_subpackages_are_attributes():
    for name in ("datasets", "models", "optim", "losses", "textbook", "kernels"):
        assert getattr(sc, name).__name__ == f"scratchcnn.{name}"
    assert "textbook" in sc.__doc__.split("Where to start reading")[1][:200]


def test_import_scratchcnn_needs_only_numpy_and_tqdm():
    import subprocess
    import sys
    code = ("import sys, scratchcnn; heavy = {'torch', 'onnx', 'onnxruntime', 'safetensors', "
            "'sklearn', 'matplotlib', 'PIL', 'scipy'}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def private_names_reached_across_modules(path: pathlib.Path) -> list[str]:
    """``from .x import _name`` and ``module._name`` (a package module imported here) in
    ``path``: a leading underscore says "this module's own"."""
    tree = ast.parse(path.read_text())
    modules, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                "scratchcnn")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
                modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in modules and node.attr.startswith("_") and \
                not node.attr.startswith("__"):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_reached_across_modules():
    found = {module_name(p): names for p in SOURCES
             if (names := private_names_reached_across_modules(p))}
    assert not found, found

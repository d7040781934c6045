"""The package's shape, read from the source with `ast` (nothing is imported).

- No import cycles among coretf modules; an import inside a function counts like one at the top.
- Commands and libraries apart: a command is a module with a top-level `def main`, the rest
  are libraries. Only commands (and `coretf/flags.py`, the training flags) import `absl.flags`
  or `absl.app`, and no library imports a command.
- Python files under coretf/, datasets/ and scripts/ (tests left out) stay within 400 lines.
- Jobs (coretf/jobs) leave compiling, fitting and checkpoints to coretf.runner.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "coretf"
MAX_LINES = 400
ABSL_COMMAND_MODULES = ("absl.flags", "absl.app")
FLAG_MODULES = ("coretf.flags",)  # not commands, but they define flags


@dataclasses.dataclass(frozen=True)
class Module:
    """A coretf module as its source reads."""

    name: str
    path: pathlib.Path
    imports: tuple[tuple[str, int], ...]  # (imported module, line)
    is_command: bool


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(tree: ast.Module, name: str, is_package: bool) -> list[tuple[str, int]]:
    """Every module named by an import statement anywhere in the tree, with its line; for
    `from a import b`, both `a` and `a.b` (the caller keeps the ones that are modules)."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


@functools.lru_cache(maxsize=None)
def package_modules() -> dict[str, Module]:
    """The coretf modules by name, with the coretf modules each imports."""
    paths = {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}
    modules = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        imports = []
        for imported, line in _imported_names(tree, name, is_package):
            # Importing a module imports its packages first; only modules of coretf count, and
            # not the module's own packages (they are always loaded before it).
            if imported in paths and imported != name and not name.startswith(imported + "."):
                imports.append((imported, line))
        is_command = any(isinstance(node, ast.FunctionDef) and node.name == "main"
                         for node in tree.body)
        modules[name] = Module(name, path, tuple(sorted(set(imports))), is_command)
    return modules


def _absl_lines(path: pathlib.Path) -> list[int]:
    """Lines importing absl.flags or absl.app (`from absl import flags`, `import absl.app`, ...)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        if any(n == m or n.startswith(m + ".") for n in names for m in ABSL_COMMAND_MODULES):
            lines.append(node.lineno)
    return sorted(lines)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (iterative: no recursion limit)."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_strongly_connected_finds_cycles_only():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f"}}
    assert _strongly_connected(graph) == [["a", "b", "c"]]


def test_absl_lines_finds_flags_and_app_however_imported(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("from absl import logging\n"
                    "from absl import app, logging\n"
                    "import absl.flags\n"
                    "def main():\n"
                    "    from absl.flags import FLAGS\n"
                    "import absl\n")
    assert _absl_lines(path) == [2, 3, 5]


def test_no_import_cycles():
    modules = package_modules()
    graph = {name: {imported for imported, _ in m.imports} for name, m in modules.items()}
    problems = []
    for component in _strongly_connected(graph):
        members = set(component)
        edges = [f"{m} -> {imported} ({modules[m].path.relative_to(ROOT)}:{line})"
                 for m in component for imported, line in modules[m].imports if imported in members]
        problems.append(" <-> ".join(component) + "\n    " + "\n    ".join(edges))
    assert not problems, "import cycles (lazy imports count):\n  " + "\n  ".join(problems)


def test_only_commands_import_absl_flags_and_app():
    problems = [f"{m.path.relative_to(ROOT)}:{line}: {m.name} imports absl flags/app but defines no main()"
                for m in package_modules().values() if not m.is_command and m.name not in FLAG_MODULES
                for line in _absl_lines(m.path)]
    assert not problems, "library modules importing absl.flags or absl.app:\n  " + "\n  ".join(problems)


def test_libraries_do_not_import_commands():
    modules = package_modules()
    problems = [f"{m.path.relative_to(ROOT)}:{line}: library {m.name} imports command {imported}"
                for m in modules.values() if not m.is_command
                for imported, line in m.imports if modules[imported].is_command]
    assert not problems, "libraries importing commands:\n  " + "\n  ".join(problems)


def test_files_stay_within_400_lines():
    files = [p for folder in ("coretf", "datasets", "scripts") for p in sorted((ROOT / folder).rglob("*.py"))
             if not (p.name.startswith("test_") or p.name.endswith("_test.py"))]
    assert len(files) > 50  # the walk found the tree
    counts = {p.relative_to(ROOT): p.read_text().count("\n") for p in files}
    long = [f"{path} ({n} lines)" for path, n in counts.items() if n > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines:\n  " + "\n  ".join(long)


def test_jobs_leave_the_loop_to_the_runner():
    """A job supplies data, model, evaluation and exports; only coretf.runner compiles and fits."""
    problems = []
    for path in sorted((ROOT / PACKAGE / "jobs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("fit", "compile", "load_weights", "save_weights")):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}(...)")
    assert not problems, "jobs running their own loop:\n  " + "\n  ".join(problems)

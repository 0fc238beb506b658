"""The library's shape: concept packages that stack, each importing only what its __init__ docstring's
"May import:" line names; no import cycles; small modules; nothing but packages at the top besides settings.py,
errors.py and __main__.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

LIBRARY = ROOT / "goemo_core"
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "settings.py", "errors.py"}
MAX_MODULE_LINES = 450


def packages() -> list[str]:
    return sorted(p.name for p in LIBRARY.iterdir() if (p / "__init__.py").is_file())


def allowed_imports(package: str) -> set[str] | None:
    """The packages and top-level modules `package` may import, from its docstring (None: every one)."""
    doc = ast.get_docstring(ast.parse((LIBRARY / package / "__init__.py").read_text())) or ""
    match = re.search(r"May import: (.+?)\.\s*$", doc, re.S)
    assert match, f"goemo_core/{package}/__init__.py does not say what it may import"
    if match.group(1).strip() == "every package of goemo_core":
        return None
    return {name.strip() for name in match.group(1).split(",")}


def imported_parts(path: Path) -> set[str]:
    """The goemo_core packages and top-level modules a file imports (by their first name below goemo_core)."""
    module = path.relative_to(ROOT).with_suffix("").parts
    package = module[:-1]  # a package's __init__ and its modules resolve relative imports alike
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [alias.name] for alias in node.names] if len(target) == 1 else [target]
            else:
                names = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        else:
            continue
        for parts in names:
            if parts[0] == "goemo_core" and len(parts) > 1:
                found.add(parts[1])
    return found


def package_graph() -> dict[str, set[str]]:
    graph = {}
    for package in packages():
        parts = set()
        for path in (LIBRARY / package).rglob("*.py"):
            parts |= imported_parts(path)
        graph[package] = parts - {package, "__version__"}
    return graph


def test_top_level_holds_only_packages_settings_and_errors():
    assert {p.name for p in LIBRARY.glob("*.py")} == TOP_LEVEL_MODULES


def test_every_package_imports_only_what_its_docstring_allows():
    top_level = {name.removesuffix(".py") for name in TOP_LEVEL_MODULES} - {"__init__", "__main__"}
    for package, imported in package_graph().items():
        allowed = allowed_imports(package)
        if allowed is None:
            continue
        assert allowed <= set(packages()) | top_level, f"{package} names an unknown package: {allowed}"
        assert imported <= allowed, f"goemo_core/{package} imports {sorted(imported - allowed)} (allowed: {sorted(allowed)})"


def test_packages_stack_without_cycles():
    graph = package_graph()
    seen, stack = set(), []

    def visit(package: str) -> None:
        assert package not in stack, "import cycle: " + " -> ".join(stack[stack.index(package):] + [package])
        if package in seen or package not in graph:
            return
        stack.append(package)
        for other in graph[package]:
            visit(other)
        stack.pop()
        seen.add(package)

    for package in graph:
        visit(package)


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in LIBRARY.rglob("*.py") if (n := len(p.read_text().splitlines()))
            > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_the_library_never_imports_streamlit():
    for path in LIBRARY.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path} imports streamlit"


def test_old_public_imports_keep_working():
    from goemo_core.data import EKMAN_CLASSES, load_goemotions
    from goemo_core.runs import Run, RunStore

    assert RunStore and Run and load_goemotions and len(EKMAN_CLASSES) == 7

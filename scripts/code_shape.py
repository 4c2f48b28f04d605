"""The shape of uvb_lab's code, for a refactor's before and after (issue 35): lines per package, the largest files,
the training loop's length, the import cycles between modules, and the modules that import Hydra or OmegaConf.

    python scripts/code_shape.py            # Markdown on stdout
    python scripts/code_shape.py --json     # the same numbers as JSON

Imports are read from the source (ast), at module level and inside functions alike: a lazy import that closes a cycle
is still a cycle a reader must follow. A cycle is a strongly connected component of more than one module.
"""

import argparse
import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "uvb_lab"
FRAMEWORKS = ("hydra", "omegaconf")
# The functions a training run passes through from its start to its summary (before and after issue 35's move).
LOOP_FUNCTIONS = ("train", "train_one_pass", "end_pass", "run_training", "training_loop")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """The uvb_lab modules path imports (a `from package import name` of a submodule counts as that submodule), and
    the top-level packages it imports."""
    tree = ast.parse(path.read_text())
    own, top = set(), set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top.add(alias.name.split(".")[0])
                if alias.name in modules:
                    own.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            top.add(base.split(".")[0])
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    own.add(f"{base}.{alias.name}")
                elif base in modules:
                    own.add(base)
    return own - {module_name(path)}, top


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def function_lines(path: Path, name: str) -> int | None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node.end_lineno - node.lineno + 1
    return None


def shape() -> dict:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in files}
    lines = {module_name(path): len(path.read_text().splitlines()) for path in files}
    graph, framework_users = {}, []
    for path in files:
        own, top = imports_of(path, modules)
        graph[module_name(path)] = own
        if top & set(FRAMEWORKS):
            framework_users.append(module_name(path))
    per_package: dict[str, int] = defaultdict(int)
    for module, count in lines.items():
        parts = module.split(".")
        in_package = len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir())
        per_package[".".join(parts[:2]) if in_package else "uvb_lab (top-level modules)"] += count
    loops = {f"{path.relative_to(PACKAGE.parent)}:{name}": n for path in files for name in LOOP_FUNCTIONS
             if (n := function_lines(path, name))}
    return {
        "total_lines": sum(lines.values()),
        "modules": len(files),
        "lines_per_package": dict(sorted(per_package.items(), key=lambda item: -item[1])),
        "largest_files": dict(sorted(lines.items(), key=lambda item: -item[1])[:10]),
        "loop_functions": loops,
        "import_cycles": cycles(graph),
        "modules_importing_hydra_or_omegaconf": sorted(framework_users),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="the numbers as JSON")
    result = shape()
    if parser.parse_args(argv).json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['total_lines']} lines in {result['modules']} modules\n")
    print("| package | lines |\n|---|---|")
    print("\n".join(f"| {name} | {count} |" for name, count in result["lines_per_package"].items()))
    print("\n| largest file | lines |\n|---|---|")
    print("\n".join(f"| {name} | {count} |" for name, count in result["largest_files"].items()))
    print("\nLoop functions:", ", ".join(f"{name} {n} lines" for name, n in result["loop_functions"].items()) or "none found")
    print(f"\nImport cycles: {len(result['import_cycles'])}")
    for component in result["import_cycles"]:
        print("- " + " <-> ".join(component))
    users = result["modules_importing_hydra_or_omegaconf"]
    print(f"\nModules importing hydra or omegaconf: {len(users)}: {', '.join(users)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

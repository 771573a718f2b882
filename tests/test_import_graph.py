"""The package's import graph (every import statement, also those inside functions; `if TYPE_CHECKING:` blocks
excepted): no cycle, no module importing the package root from inside, shared modules import no method, methods do
not import each other, and the early-exit files copied into Hub repos import only torch / transformers."""

import ast
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "hf_notlike"
METHODS = ("hf_notlike.early_exit", "hf_notlike.cartography", "hf_notlike.masking")
SHARED = ("hf_notlike.hub", "hf_notlike.cli_utils", "hf_notlike.version", "hf_notlike.artifacts")
# the files `register_for_auto_class` copies into Hub repos (loaded with trust_remote_code=True)
SELF_CONTAINED = ("hf_notlike.early_exit.configuration", "hf_notlike.early_exit.modeling")
SELF_CONTAINED_ALLOWED = {"torch", "transformers", "safetensors", "huggingface_hub", "__future__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (PACKAGE_DIR.parent / name.replace(".", "/") / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (a `from X import y` counts as X.y when that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                is_module = (PACKAGE_DIR.parent / (candidate.replace(".", "/") + ".py")).is_file() or is_package(
                    candidate
                )
                found.add(candidate if is_module else target)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    return {name: {i for i in imports_of(path) if i in modules} for name, path in modules.items()}, modules


def test_no_import_cycle():
    edges, _ = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_layering():
    edges, modules = graph()
    problems = []
    for name, targets in edges.items():
        if name != "hf_notlike" and "hf_notlike" in targets:
            problems.append(f"{name} imports the package root")
        own = next((m for m in METHODS if name == m or name.startswith(m + ".")), None)
        for target in targets:
            other = next((m for m in METHODS if target == m or target.startswith(m + ".")), None)
            if name in SHARED and other:
                problems.append(f"shared module {name} imports the method {target}")
            if own and other and other != own:
                problems.append(f"method module {name} imports another method, {target}")
    # the Hub copies: modeling / configuration and every package module they reach import only torch & co.
    reached, todo = set(), list(SELF_CONTAINED)
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for target in imports_of(modules[name]):
            if target.startswith("hf_notlike"):
                if target.rsplit(".", 1)[0] != "hf_notlike.early_exit" or target == "hf_notlike.early_exit":
                    problems.append(f"{name} must stay self-contained (a sibling file at most) but imports {target}")
                elif target in modules:
                    todo.append(target)
            elif target.split(".")[0] not in SELF_CONTAINED_ALLOWED | set(sys.stdlib_module_names):
                problems.append(f"{name} must stay self-contained but imports {target}")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_imports(tmp_path):
    """The walker resolves relative imports, `from . import module` and function-level imports."""
    edges, _ = graph()
    assert "hf_notlike.hub" in edges["hf_notlike.early_exit.model_card"]
    assert "hf_notlike.early_exit.configuration" in edges["hf_notlike.early_exit.modeling"]
    assert "hf_notlike.cartography.card" in edges["hf_notlike.cartography.storage"]  # inside a function
    assert "hf_notlike.cartography.datamap" not in edges["hf_notlike.cartography.plotting"]  # TYPE_CHECKING only


def test_declared_dependencies_match_the_imports():
    """pyproject.toml declares exactly the third-party packages hf_notlike imports (extras for optional ones)."""
    import re

    import tomllib

    project = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())["project"]
    module_of = {"huggingface-hub": "huggingface_hub", "pyyaml": "yaml"}

    def modules(requirements):
        names = [re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements]
        return {module_of.get(n, n.replace("-", "_")) for n in names}

    required = modules(project["dependencies"])
    optional = modules(project["optional-dependencies"]["interactive"])
    imported = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        imported |= {name.split(".")[0] for name in imports_of(path)}
    third_party = {n for n in imported if n not in sys.stdlib_module_names and n not in ("hf_notlike", "__future__")}
    assert third_party - required - optional == set(), "imported but not declared"
    assert required - third_party == set(), "declared but never imported"


def test_public_api():
    """`hf_notlike.__all__` holds what users call: no low-level helpers, nothing of the demo or sample loaders (the
    samples have their own public module, `hf_notlike.resources`, with its own `__all__`)."""
    import hf_notlike

    assert all(hasattr(hf_notlike, name) for name in hf_notlike.__all__)
    assert {"select_exits", "exit_confidences", "run_demo", "minilm_path", "resource_path"}.isdisjoint(
        hf_notlike.__all__
    )
    assert "Demo support, not library API" in (PACKAGE_DIR / "demo.py").read_text()
    from hf_notlike import resources

    assert all(callable(getattr(resources, name)) or name == "RESOURCES" for name in resources.__all__)
    assert all(getattr(resources, name).__doc__ and ">>>" in getattr(resources, name).__doc__
               for name in resources.__all__ if callable(getattr(resources, name)))


def private_reads(path: Path) -> list[tuple[int, str]]:
    """`obj._name` reads in `path` whose object is not `self` / `cls` / `super()` (line, expression)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and not (isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "super")):
            found.append((node.lineno, ast.unparse(node)))
    return found


def own_private_names() -> set[str]:
    """Every `_name` the package itself defines (functions, classes, attributes it assigns, module globals)."""
    names = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.rsplit(".", 1)[-1])
    return {name for name in names if name.startswith("_")}


# the documented places that may touch other libraries' private names (each says why, with an upgrade test)
FENCED = {"hf_notlike/cartography/_trainer_internals.py"}
# private names of other libraries read in one documented place each, in the self-contained early-exit files (they
# are copied into Hub repos and cannot import the fenced module): the attention implementation (transformers has no
# public getter; `EarlyExitConfigMixin.attention_implementation`) and the modules a backbone declares for recording
# attentions (`_AttentionRecorder`; the output_attentions tests fail if transformers changes it), and torch's tensor
# version counters that key the fused-exit cache (`_fused_exits`; test_fused_exits_follow_new_weights_and_temperatures
# fails if torch changes them)
ACCESSORS = {("hf_notlike/early_exit/configuration.py", "_attn_implementation"),
             ("hf_notlike/early_exit/modeling.py", "_can_record_outputs"),
             ("hf_notlike/early_exit/modeling.py", "_version")}


def test_no_private_names_of_other_libraries_outside_the_fence():
    own = own_private_names()
    foreign = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR.parent).as_posix()
        if relative in FENCED:
            continue
        for line, expression in private_reads(path):
            name = expression.rsplit(".", 1)[-1]
            if name not in own and (relative, name) not in ACCESSORS:
                foreign.append(f"{relative}:{line}: {expression}")
    assert not foreign, ("private names of other libraries used outside the fenced module "
                         f"(move them into {sorted(FENCED)} or use a public API): {foreign}")


def test_the_private_name_checker_sees_reads(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f(model, self):\n    model.config._attn_implementation\n    self._ok\n    super()._fine\n")
    assert [expr for _, expr in private_reads(path)] == ["model.config._attn_implementation"]

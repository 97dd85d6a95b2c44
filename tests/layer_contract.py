"""The layer contract of ``mage/``, ``sweeps/`` and ``analysis/``, checked on the source (AST, nothing imported).

Every import counts: module level, inside functions and methods, relative ones (``from ..x import y``), and
``if TYPE_CHECKING:`` ones (those are left out of the cycle check only: they never run, and they are the
usual way to break a cycle). Rules:

1. No import cycle between modules (files) anywhere under the three roots. ``from pkg import name`` is an
   edge to ``pkg/name.py`` when that file exists, else to ``pkg/__init__.py``; the implicit execution of
   parent ``__init__`` files is not an edge.
2. Layers inside ``mage/`` (``MAGE_LAYERS``, bottom first): a module imports only modules of its own layer or
   lower ones. Every module under ``mage/`` must be in the map (a new subpackage gets a layer on purpose);
   ``mage/`` never imports ``sweeps/`` or ``analysis/``.
3. ``sweeps/`` may import anything in ``mage``, never ``analysis/``.
4. ``analysis/`` may import only ``ANALYSIS_MAY_IMPORT`` from ``mage`` and never torch: results, not models.
   Also at import time: following the import-time imports (module level, plus the parent packages'
   ``__init__`` files Python runs) through ``mage``, an analysis module reaches no ``MODEL_CODE`` and no torch.
5. ``ray`` only under ``mage/distributed/`` and ``sweeps/``; ``mlflow`` only under ``mage/tracking/`` and
   ``analysis/``.

Files over ``MAX_LINES`` lines are reported as warnings, not violations (one file may be one cohesive thing).

    .venv/bin/python tests/layer_contract.py [REPO_ROOT]    # prints the report, exit 1 on any violation
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOTS = ("mage", "sweeps", "analysis")
MAX_LINES = 400

# Bottom first; a module may import its own layer and every layer listed before it. Entries are module-name
# prefixes (a package covers its submodules; "mage" is only mage/__init__.py); the longest match wins.
MAGE_LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "mage",
        "mage.types",
        "mage.agent",
        "mage.config_base",
        "mage.schedule",
        "mage.presets",
        "mage.config",
        "mage.fsutil",
        "mage.rng",
        "mage.loop",
        "mage.checkpoint",
        "mage.errors",
        "mage.provenance",
    ),  # leaves
    ("mage.data", "mage.envs"),
    ("mage.tokenizer",),
    ("mage.transformer",),
    ("mage.policy", "mage.pipeline", "mage.baselines"),  # baselines (future) sit beside policy
    ("mage.eval",),
    ("mage.tracking",),
    ("mage.distributed", "mage.cli", "mage.__main__"),  # top
)
ANALYSIS_MAY_IMPORT = (
    "mage.tracking",
    "mage.eval.scores",
    "mage.config",
    "mage.types",
    "mage.envs.registry",
    "mage.errors",
)
ANALYSIS_NEVER = ("torch",)  # third-party modules analysis/ must not import
MODEL_CODE = ("mage.tokenizer", "mage.transformer", "mage.policy", "mage.data")  # not even transitively
CONFINED = {"ray": ("mage.distributed", "sweeps"), "mlflow": ("mage.tracking", "analysis")}


@dataclass(frozen=True)
class Import:
    src: str  # importing module
    target: str  # imported dotted name as written (absolute; relative imports resolved)
    module: str | None  # the project module (file) it resolves to; None for third-party / stdlib
    path: str  # file of ``src``, relative to the repo root
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``
    in_function: bool  # inside a function or method body (runs on call, not at import time)

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Violation:
    rule: str  # "cycle", "layer", "sweeps", "analysis", "confinement", "unmapped"
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass
class Report:
    modules: dict[str, Path]
    imports: list[Import]
    violations: list[Violation] = field(default_factory=list)
    large_files: list[tuple[str, int]] = field(default_factory=list)  # warnings: (path, lines)

    def format(self) -> str:
        out = [str(v) for v in self.violations]
        out += [f"[warning] {p}: {n} lines > {MAX_LINES}" for p, n in self.large_files]
        out.append(
            f"{len(self.modules)} modules, {len(self.imports)} imports: {len(self.violations)} violations, "
            f"{len(self.large_files)} files over {MAX_LINES} lines"
        )
        return "\n".join(out)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def discover(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the roots (``pkg/__init__.py`` is ``pkg``)."""
    mods: dict[str, Path] = {}
    for top in ROOTS:
        for f in sorted((root / top).rglob("*.py")):
            rel = f.relative_to(root).with_suffix("")
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            mods[".".join(parts)] = f
    return mods


def _import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import node with (under ``if TYPE_CHECKING:``, inside a function body)."""

    def visit(
        node: ast.AST, typed: bool, in_fn: bool
    ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, typed, in_fn
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), True, in_fn)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), typed, in_fn)
            else:
                fn = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                yield from visit(child, typed, in_fn or fn)

    yield from visit(tree, False, False)


def _is_type_checking(test: ast.expr) -> bool:
    name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
    return name == "TYPE_CHECKING"


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The project module a dotted name lands in: the longest prefix that is a module (None: not ours)."""
    if name.split(".")[0] not in ROOTS:
        return None
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def parse_imports(mod: str, path: Path, root: Path, mods: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    rel = str(path.relative_to(root))
    for node, typed, in_fn in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:  # relative: anchor at this module's package, one level up per extra dot
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = pkg[: len(pkg) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import sub`` imports the submodule file when there is one, else a name of pkg
            targets = [
                f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names if prefix
            ]
        for t in dict.fromkeys(targets):
            yield Import(mod, t, _resolve(t, mods), rel, node.lineno, typed, in_fn)


def mage_layer(mod: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for layer, prefixes in enumerate(MAGE_LAYERS):
        for p in prefixes:
            hit = mod == p if p == "mage" else _under(mod, p)  # "mage" is mage/__init__.py only
            if hit and (best is None or len(p) > best[0]):
                best = (len(p), layer)
    return None if best is None else best[1]


def _layer_name(layer: int) -> str:
    return "/".join(p.removeprefix("mage.") for p in MAGE_LAYERS[layer])


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return sorted(comps)


def _cycle_path(comp: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete loop through the component's first module (breadth-first, shortest)."""
    inside, start = set(comp), comp[0]
    prev: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v] & inside):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [*comp, start]  # unreachable for a real component


def _rules(imp: Import) -> Iterable[Violation]:
    src, tgt, top = imp.src, imp.module, imp.target.split(".")[0]
    at = f"{imp.where()}: {src} imports {imp.target}"
    for lib, allowed in CONFINED.items():
        if top == lib and not any(_under(src, a) for a in allowed):
            yield Violation("confinement", f"{at} ({lib} belongs only in {', '.join(allowed)})")
    if _under(src, "analysis"):
        if top in ANALYSIS_NEVER:
            yield Violation("analysis", f"{at} (analysis/ reads results, it never imports {top})")
        if tgt and _under(tgt, "mage") and not any(_under(tgt, a) for a in ANALYSIS_MAY_IMPORT):
            yield Violation("analysis", f"{at} (analysis/ may import only {', '.join(ANALYSIS_MAY_IMPORT)})")
        if tgt and _under(tgt, "sweeps"):
            yield Violation("analysis", f"{at} (analysis/ never imports sweeps/)")
    if _under(src, "sweeps") and tgt and _under(tgt, "analysis"):
        yield Violation("sweeps", f"{at} (sweeps/ never imports analysis/)")
    if _under(src, "mage") and tgt:
        if not _under(tgt, "mage"):
            yield Violation("layer", f"{at} (mage/ never imports {tgt.split('.')[0]}/)")
            return
        ls, lt = mage_layer(src), mage_layer(tgt)
        if ls is not None and lt is not None and lt > ls:
            yield Violation(
                "layer",
                f"{at} (layer {ls} '{_layer_name(ls)}' may not import layer {lt} '{_layer_name(lt)}')",
            )


def _import_time_leaks(start: str, mods: dict[str, Path], imports: list[Import]) -> Iterator[Violation]:
    """Model code or torch that ``import start`` loads indirectly (direct imports are rule 4's)."""
    runs: dict[str, list[str]] = {m: [] for m in mods}  # module -> project modules its import runs
    for m in mods:  # importing a.b.c runs a/__init__, a/b/__init__ first
        parts = m.split(".")
        runs[m].extend(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in mods)
    for imp in imports:
        if imp.module and not imp.in_function and not imp.type_only and imp.module != imp.src:
            runs[imp.src].append(imp.module)
    third = {(i.src, i.target.split(".")[0]): i for i in imports if not i.module and not i.in_function}
    via: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        if v != start and any(_under(v, p) for p in MODEL_CODE):
            continue  # reported where the path enters model code, not once per module behind it
        for w in runs[v]:
            if w not in via:
                via[w] = v
                queue.append(w)

    def chain(m: str) -> str:
        path = [m]
        while via[path[-1]] is not None:
            path.append(via[path[-1]])
        return " -> ".join(reversed(path))

    for m in via:
        if m == start:
            continue  # its own imports are rule 4's
        if via[m] != start and any(_under(m, p) for p in MODEL_CODE):  # direct ones are rule 4's
            yield Violation("analysis", f"importing {start} loads model code: {chain(m)}")
        for lib in ANALYSIS_NEVER:
            if (m, lib) in third and not any(_under(m, p) for p in MODEL_CODE):
                yield Violation(
                    "analysis", f"importing {start} loads {lib}: {chain(m)} ({third[m, lib].where()})"
                )


def check(root: Path | str) -> Report:
    root = Path(root)
    mods = discover(root)
    imports = [i for m, f in mods.items() for i in parse_imports(m, f, root, mods)]
    rep = Report(mods, imports)
    for m in mods:
        if _under(m, "mage") and mage_layer(m) is None:
            rep.violations.append(
                Violation("unmapped", f"{m} ({mods[m].relative_to(root)}) has no layer in MAGE_LAYERS")
            )
    for imp in imports:
        rep.violations.extend(_rules(imp))
    edges: dict[str, set[str]] = {m: set() for m in mods}
    first: dict[tuple[str, str], Import] = {}
    for imp in imports:
        if imp.module and imp.module != imp.src and not imp.type_only:
            edges[imp.src].add(imp.module)
            first.setdefault((imp.src, imp.module), imp)
    for comp in find_cycles(edges):
        loop = _cycle_path(comp, edges)
        hops = "; ".join(first[a, b].where() for a, b in zip(loop, loop[1:]))
        rep.violations.append(
            Violation("cycle", f"{' -> '.join(loop)} ({hops}); component: {', '.join(comp)}")
        )
    for m in mods:
        if _under(m, "analysis"):
            rep.violations.extend(_import_time_leaks(m, mods, imports))
    rep.violations.sort(key=lambda v: (v.rule, v.message))
    for f in mods.values():
        n = len(f.read_text().splitlines())
        if n > MAX_LINES:
            rep.large_files.append((str(f.relative_to(root)), n))
    rep.large_files.sort(key=lambda x: -x[1])
    return rep


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rep = check(argv[0] if argv else Path(__file__).resolve().parents[1])
    print(rep.format())
    return 1 if rep.violations else 0


if __name__ == "__main__":
    sys.exit(main())

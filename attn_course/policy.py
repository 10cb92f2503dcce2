"""What an answer may use: the names it defines, a few modules, and no way around the exercise.

    violations(source, rules) -> list[Violation]      static: the code is parsed, never run

An answer cell may use the names it defines itself, the names the student's other answer cells
define (`Rules.own`), the modules of `ALLOWED_NAMES` (torch, nn, F, math, np, and triton and tl
for a kernel) and safe builtins.
It may not

- use any other name the notebook defines (a reference bound by the setup cell, a preview's
  model, the checks) or rebind one (`check_softmax = ...`, `torch = ...`);
- change an object it did not create (`torch.allclose = ...`, `setattr(torch, ...)`);
- import anything but `ALLOWED_MODULES`, or reach another module through one (`torch.sys`);
- use the functions the exercise asks students to write themselves (`Rules.forbidden`: by
  object, under any alias, and by attribute name, so `x.softmax(...)` counts too);
- use the ways around a static reading: exec/eval/compile, __import__, globals/locals/vars,
  getattr/setattr/delattr with a computed name, dunder and frame attributes (`__globals__`,
  `f_back`), private or low-level torch (`torch._C`, `torch.ops`), or loading pickles.

The grader applies it to every answer cell before the notebook runs (a violating cell does not
run, and the items that depend on it score 0); the checks apply it in self-study, with
`Rules.lenient` (names from other cells are not known there), to say that an exercise asks the
student to write the code rather than call a library.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import types
from dataclasses import dataclass, field

__all__ = [
    "ALLOWED_MODULES",
    "ALLOWED_NAMES",
    "Rules",
    "Violation",
    "bound_names",
    "course_object",
    "defined_names",
    "names_used",
    "resolve",
    "violations",
]

# Names the notebooks bind that every answer may use, and the module each one is.
ALLOWED_NAMES: dict[str, str] = {
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "math": "math",
    "np": "numpy",
    "numpy": "numpy",
    "triton": "triton",
    "tl": "triton.language",
}
# Modules an answer may import (and their submodules, less `BLOCKED_MODULES`).
ALLOWED_MODULES = ("torch", "numpy", "math", "typing", "functools", "itertools", "collections",
                   "dataclasses", "warnings", "triton")
# Submodules that load code or data a static reading cannot see, reach below Python, or reach
# other processes (the network, new processes).
BLOCKED_MODULES = ("torch.hub", "torch.package", "torch.serialization", "torch.library",
                   "torch.utils.cpp_extension", "torch.fx", "torch.jit", "torch.distributed",
                   "torch.multiprocessing", "numpy.lib",
                   "numpy.ctypeslib", "numpy.f2py", "triton.runtime", "triton.compiler",
                   "triton.backends", "triton.tools", "triton.testing", "triton.knobs",
                   "triton.profiler")
# Objects that run code hidden from a static reading (pickles), below Python, or that evaluate
# strings as names of the notebook (annotations).
BLOCKED_OBJECTS = ("torch.load", "torch.ops", "torch.classes", "numpy.load",
                   "typing.get_type_hints", "typing.ForwardRef", "functools.singledispatch",
                   "functools.singledispatchmethod", "triton.language.inline_asm_elementwise")

SAFE_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "callable", "complex", "dict", "divmod", "enumerate", "filter",
    "float", "format", "frozenset", "hasattr", "hash", "int", "isinstance", "issubclass", "iter",
    "len", "list", "map", "max", "min", "next", "object", "pow", "print", "property", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "classmethod", "str",
    "sum", "super", "tuple", "type", "zip", "NotImplemented", "Ellipsis", "None", "True",
    "False", "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError",
    "KeyError", "NotImplementedError", "RuntimeError", "TypeError", "ValueError",
    "ZeroDivisionError", "StopIteration", "SystemExit", "KeyboardInterrupt", "Warning",
    "UserWarning", "DeprecationWarning", "RuntimeWarning", "__name__",
})
COMPUTED_ACCESS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Names that reach the kernel or the interpreter, wherever they come from.
ESCAPES = frozenset({"get_ipython", "__builtins__", "__import__", "__loader__", "__spec__"})
# super().__init__(), module.__call__, type(self).__name__: harmless while every dunder that
# leads further (__globals__, __dict__, __subclasses__, __mro__, ...) stays closed
OPEN_DUNDERS = frozenset({"__init__", "__call__", "__class__", "__name__", "__qualname__",
                          "__doc__"})
FRAME_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
    "ag_code", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next",
    "co_code", "co_consts", "co_names",
})


@dataclass(frozen=True)
class Violation:
    """One thing an answer may not do: where, what it used, and why it is not allowed."""

    line: int
    used: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: `{self.used}` {self.reason}"


@dataclass(frozen=True)
class Rules:
    """What one answer cell may use.

    forbidden: dotted paths of what the exercise asks the student to write themselves.
    exercise: names this answer is meant to define (the blank answer's `def` / `class` names).
    own: names the student's other answer cells define. notebook: names the notebook's own
    cells bind (these may not be used). protected: the ones they import or define with def and
    class (these may not be rebound either; a notebook's data such as `x = ...` may). lenient:
    names the answer does not define are allowed, unless `namespace` (the globals the code runs
    in) shows them to be the course's own code, a forbidden function or another module: the
    checks in self-study see one function, not the notebook.
    """

    forbidden: tuple[str, ...] = ()
    exercise: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()
    notebook: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset()
    lenient: bool = False
    namespace: dict | None = field(default=None, compare=False, repr=False)
    _objects: dict = field(default_factory=dict, compare=False, repr=False)

    def forbidden_objects(self) -> list[tuple[str, object]]:
        """(path, object) for every forbidden path that exists in this torch."""
        if "list" not in self._objects:
            self._objects["list"] = [(p, o) for p in (*self.forbidden, *BLOCKED_OBJECTS)
                                     if (o := resolve(p)) is not None]
        return self._objects["list"]

    @property
    def forbidden_attributes(self) -> frozenset[str]:
        return frozenset(p.rsplit(".", 1)[-1] for p in self.forbidden)


def resolve(path: str) -> object | None:
    """The object at a dotted path of an allowed module (None when there is none)."""
    parts = path.split(".")
    try:
        obj: object = importlib.import_module(parts[0])
    except ImportError:
        return None
    for name in parts[1:]:
        try:
            obj = getattr(obj, name)
        except Exception:
            return None
    return obj


def course_object(obj: object) -> bool:
    """Whether `obj` is (made by) the course's package: a module, function, class or instance."""
    for candidate in (obj, type(obj)):
        module = getattr(candidate, "__module__", None) if not isinstance(
            candidate, types.ModuleType) else candidate.__name__
        if isinstance(module, str) and (module == "attn_course"
                                        or module.startswith("attn_course.")):
            return True
    return False


def _module_allowed(name: str) -> bool:
    if name == "__future__":  # from __future__ import annotations
        return True

    def under(prefixes):
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    private = any(part.startswith("_") for part in name.split("."))
    return under(ALLOWED_MODULES) and not under(BLOCKED_MODULES) and not private


def bound_names(source: str) -> set[str]:
    """The names a cell binds at its top level (assignments, defs, classes, imports, loops)."""
    try:
        return _Scan(ast.parse(source)).top_bound
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()


def defined_names(source: str) -> set[str]:
    """The names a cell imports or defines with def and class at its top level."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names


class _Scan(ast.NodeVisitor):
    """Every name the code binds anywhere, and the ones it binds at the top level."""

    def __init__(self, tree: ast.AST):
        self.bound: set[str] = set()
        self.top_bound: set[str] = set()
        self.top_lines: dict[str, int] = {}  # top-level name -> first line binding it
        self.imports: dict[str, str] = {}  # alias -> dotted path
        self._depth = 0
        self._line = 0
        self.visit(tree)

    def visit(self, node):
        self._line = getattr(node, "lineno", self._line)
        return super().visit(node)

    def _bind(self, name: str) -> None:
        self.bound.add(name)
        if self._depth == 0:
            self.top_bound.add(name)
            self.top_lines.setdefault(name, self._line)

    def _scope(self, node) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    def visit_FunctionDef(self, node) -> None:
        self._bind(node.name)
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                    node.args.vararg, node.args.kwarg):
            if arg is not None:
                self.bound.add(arg.arg)
        self._scope(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node) -> None:
        self._bind(node.name)
        self._scope(node)

    def visit_Lambda(self, node) -> None:
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                    node.args.vararg, node.args.kwarg):
            if arg is not None:
                self.bound.add(arg.arg)
        self._scope(node)

    def visit_Name(self, node) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._bind(node.id)

    def visit_Global(self, node) -> None:
        for name in node.names:
            self.bound.add(name)
            self.top_bound.add(name)

    def visit_ExceptHandler(self, node) -> None:
        if node.name:
            self._bind(node.name)
        self.generic_visit(node)

    def visit_Import(self, node) -> None:
        for alias in node.names:
            if alias.asname:
                self.imports[alias.asname] = alias.name
                self._bind(alias.asname)
            else:
                top = alias.name.split(".")[0]
                self.imports[top] = top
                self._bind(top)

    def visit_ImportFrom(self, node) -> None:
        for alias in node.names:
            name = alias.asname or alias.name
            self.imports[name] = f"{node.module or ''}.{alias.name}"
            self._bind(name)

    def visit_MatchAs(self, node) -> None:
        if node.name:
            self._bind(node.name)
        self.generic_visit(node)


def _chain(node: ast.expr) -> tuple[str, list[str]] | None:
    """(root name, attributes) of `a.b.c`, or None when the root is not a plain name."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return (node.id, attrs[::-1]) if isinstance(node, ast.Name) else None


class _Judge(ast.NodeVisitor):
    def __init__(self, source: str, tree: ast.AST, rules: Rules):
        self.source, self.rules = source, rules
        self.scan = _Scan(tree)
        self.found: list[Violation] = []
        self.visit(tree)
        for name, line in self.scan.top_lines.items():
            if name in self.scan.imports or name in rules.exercise or rules.lenient:
                continue  # (self-study reads a function, not a cell of the notebook)
            if name.startswith("__") and name.endswith("__"):
                self.found.append(Violation(line, name, "is one of Python's own names: the "
                                                        "answer may not rebind it"))
            elif name in rules.protected or name in ALLOWED_NAMES:
                self.found.append(Violation(line, name, "is a name the notebook defines: the "
                                                        "answer may not rebind it"))

    def add(self, node: ast.AST, used: str, reason: str) -> None:
        self.found.append(Violation(getattr(node, "lineno", 0), used, reason))

    # ---- what a name stands for ----------------------------------------------------------
    def module_of(self, name: str) -> str | None:
        """The dotted path a name stands for, when it is a module or an import."""
        if name in self.scan.imports:
            return self.scan.imports[name]
        if name in self.scan.bound or name in self.rules.own:
            return None
        if name in ALLOWED_NAMES:
            return ALLOWED_NAMES[name]
        obj = self.outside(name)
        return obj.__name__ if isinstance(obj, types.ModuleType) else None

    def outside(self, name: str) -> object | None:
        """What a name the answer does not define is, where the namespace is known."""
        namespace = self.rules.namespace
        if namespace is None or name in self.scan.bound:
            return None
        return namespace.get(name)

    def known(self, name: str) -> bool:
        return (name in self.scan.bound or name in self.rules.own or name in ALLOWED_NAMES
                or name in SAFE_BUILTINS)

    # ---- imports -------------------------------------------------------------------------
    def visit_Import(self, node) -> None:
        refused = [alias.name for alias in node.names if not _module_allowed(alias.name)]
        if refused:
            self.add(node, f"import {', '.join(refused)}", "is not a module answers may import "
                     f"(allowed: {', '.join(ALLOWED_MODULES)})")
        for alias in node.names:
            self._check_path(node, alias.name)
            self._rebinding(node, alias.asname or alias.name.split(".")[0],
                            alias.asname and alias.name or alias.name.split(".")[0])

    def visit_ImportFrom(self, node) -> None:
        module = node.module or ""
        if node.level or not _module_allowed(module):
            self.add(node, f"from {module} import ...", "is not a module answers may import "
                     f"(allowed: {', '.join(ALLOWED_MODULES)})")
            return
        for alias in node.names:
            if alias.name == "*":
                self.add(node, f"from {module} import *", "hides which names the answer uses")
                continue
            path = f"{module}.{alias.name}"
            if alias.name.startswith("_"):
                self.add(node, path, "is private to the library")
            self._check_path(node, path)
            self._rebinding(node, alias.asname or alias.name, path)

    def _rebinding(self, node, name: str, path: str) -> None:
        if (name in self.rules.protected or name in ALLOWED_NAMES) \
                and ALLOWED_NAMES.get(name) != path and name not in self.rules.exercise:
            self.add(node, name, "is a name the notebook defines: the answer may not rebind it")

    # ---- names ---------------------------------------------------------------------------
    def visit_Name(self, node) -> None:
        name = node.id
        if isinstance(node.ctx, ast.Store | ast.Del):
            return  # rebinding a notebook name: see __init__
        if name in COMPUTED_ACCESS:
            self.add(node, name, "is only allowed called with a literal name, "
                                 "e.g. getattr(x, 'weight')")
        elif name in ESCAPES or (name in dir(builtins) and name not in SAFE_BUILTINS
                                 and name not in self.scan.bound):
            self.add(node, name, "runs or reaches code a reading of the answer cannot see")
        elif self.rules.lenient and not self.known(name):
            self._outside_object(node, name)
        elif not self.known(name):
            what = ("is defined by the notebook, not by the answer"
                    if name in self.rules.notebook else "is not defined by the answer")
            self.add(node, name, f"{what}: an answer may use only its own names and "
                                 f"{', '.join(ALLOWED_NAMES)}")

    def _outside_object(self, node, name: str) -> None:
        """Self-study: a name from another cell, judged by what it is."""
        obj = self.outside(name)
        if obj is None:
            return
        if isinstance(obj, types.ModuleType):
            if not _module_allowed(obj.__name__):
                self.add(node, name, f"is the module {obj.__name__}, which answers may not use")
        elif course_object(obj):
            self.add(node, name, "is the course's own code: the exercise asks you to write "
                                 "it yourself")
        elif any(obj is f for _, f in self.rules.forbidden_objects()):
            self.add(node, name, "is what this exercise asks you to write yourself")

    # ---- attributes ----------------------------------------------------------------------
    def visit_Attribute(self, node) -> None:
        self._attribute(node, node.attr)
        chain = _chain(node)
        if chain is not None and isinstance(node.ctx, ast.Load):
            root, attrs = chain
            base = self.module_of(root)
            if base is not None and not isinstance(getattr(node, "_parent_attr", None),
                                                   ast.Attribute):
                self._check_path(node, ".".join([base, *attrs]), shown=".".join([root, *attrs]))
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._target(node)
        for child in ast.iter_child_nodes(node):
            child._parent_attr = node  # type: ignore[attr-defined]
        self.generic_visit(node)

    def _attribute(self, node, attr: str) -> None:
        if attr.startswith("__") and attr.endswith("__") and attr not in OPEN_DUNDERS:
            self.add(node, f".{attr}", "reaches into Python's internals")
        elif attr in FRAME_ATTRIBUTES:
            self.add(node, f".{attr}", "reaches into running code (frames)")
        elif attr in self.rules.forbidden_attributes:
            self.add(node, f".{attr}", "is what this exercise asks you to write yourself")

    def _check_path(self, node, path: str, shown: str | None = None) -> None:
        """A dotted path into an allowed module: no private parts, no other modules, nothing
        forbidden."""
        shown = shown or path
        parts = path.split(".")
        if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__"))
               for p in parts[1:]):
            self.add(node, shown, "is private or low-level library code")
            return
        obj = resolve(parts[0])
        for i, name in enumerate(parts[1:], start=2):
            if obj is None:
                return
            try:
                obj = getattr(obj, name)
            except Exception:
                return
            if isinstance(obj, types.ModuleType) and not _module_allowed(obj.__name__):
                self.add(node, shown, f"reaches the module {obj.__name__}, which answers may "
                                      "not use")
                return
            for forbidden_path, forbidden in self.rules.forbidden_objects():
                if obj is forbidden:
                    why = ("is what this exercise asks you to write yourself"
                           if forbidden_path in self.rules.forbidden
                           else "runs code a reading of the answer cannot see")
                    self.add(node, ".".join(shown.split(".")[:i]), why)
                    return

    # ---- changing things the answer did not make --------------------------------------------
    def _target(self, node) -> None:
        root = node
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id in self.scan.bound
                and root.id not in self.scan.imports):
            self.add(node, ast.get_source_segment(self.source, node) or "?",
                     "changes an object the answer did not create")

    def visit_Subscript(self, node) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._target(node)
        self.generic_visit(node)

    def visit_Call(self, node) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in COMPUTED_ACCESS and func.id not in \
                self.scan.bound:
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.add(node, f"{func.id}(...)", "with a computed name hides what it reaches")
            else:
                self._attribute(node, name.value)
                target = node.args[0]
                chain = _chain(target)
                if func.id in ("setattr", "delattr"):
                    fake = ast.Attribute(value=target, attr=name.value, ctx=ast.Store())
                    ast.copy_location(fake, node)
                    self._target(fake)
                elif chain is not None and (base := self.module_of(chain[0])) is not None:
                    self._check_path(node, ".".join([base, *chain[1], name.value]))
            for arg in node.args[2:] + [k.value for k in node.keywords]:
                self.visit(arg)
            self.visit(node.args[0]) if node.args else None
            return
        self.generic_visit(node)


UNREADABLE = ("is nested too deeply to be read: split long expressions and deep nesting into "
              "several statements")
# The deepest syntax tree read (a sum of n terms is n deep): far beyond any honest answer, and a
# fixed bound, so that the verdict does not depend on the interpreter's recursion limit (which
# torch.compile, for one, raises).
MAX_DEPTH = 200


def _depth(tree: ast.AST) -> int:
    """How deep the tree is, walked without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def violations(source: str, rules: Rules = Rules()) -> list[Violation]:
    """Everything in `source` that `rules` do not allow, in line order (empty: allowed).

    A cell too deeply nested to be read (a sum of 100,000 terms) is refused as a whole."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # the kernel reports it as the student's error
        return []
    except (RecursionError, MemoryError, ValueError):
        return [Violation(1, "the cell", UNREADABLE)]
    if _depth(tree) > MAX_DEPTH:
        return [Violation(1, "the cell", UNREADABLE)]
    try:
        found = _Judge(source, tree, rules).found
    except RecursionError:
        return [Violation(1, "the cell", UNREADABLE)]
    unique: dict[tuple, Violation] = {}  # one per line and reason: the fullest `used`
    for v in sorted(found, key=lambda v: (v.line, -len(v.used))):
        unique.setdefault((v.line, v.reason), v)
    return list(unique.values())


def names_used(source: str) -> set[str]:
    """Every name `source` reads."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

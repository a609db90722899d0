"""House style as a test: modules stay under 400 lines, functions take at most 8 parameters.

A function that needs more takes an object (a small frozen dataclass of options); a module that
grows past the limit splits along its seams. The failure lists every offender at once.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "globalvoice"
MAX_MODULE_LINES = 400
MAX_PARAMETERS = 8  # positional and keyword-only; self, cls, *args and **kwargs not counted
# A typer command's parameters are its command-line options, one each: exempt by design.
CLI_COMMANDS = {"src/globalvoice/cli/main.py": {"dub"}}


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if in_class and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    return len(positional) + len(args.kwonlyargs)


def _functions(tree: ast.Module) -> list[tuple[str, int, int]]:
    """(qualified name, line, parameter count) of every function and method, nested too."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", True)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                found.append((name, child.lineno, _parameters(child, in_class)))
                visit(child, f"{name}.", False)
            else:
                visit(child, prefix, in_class)

    visit(tree, "", False)
    return found


def _offenders() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(SRC.parents[1])
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{where}: {lines} lines (max {MAX_MODULE_LINES})")
        for name, line, count in _functions(ast.parse(text, filename=str(path))):
            if name in CLI_COMMANDS.get(str(where), set()):
                continue
            if count > MAX_PARAMETERS:
                found.append(f"{where}:{line} {name}: {count} parameters (max {MAX_PARAMETERS})")
    return found


def test_modules_and_functions_stay_small() -> None:
    offenders = _offenders()
    assert not offenders, "code shape:\n" + "\n".join(offenders)


def test_the_check_counts_parameters_as_documented() -> None:
    tree = ast.parse(
        "def f(a, /, b, *args, c, d=1, **kw): pass\n"
        "class K:\n"
        "    def m(self, a, b): pass\n"
        "    @classmethod\n"
        "    def c(cls, a): pass\n"
        "    @staticmethod\n"
        "    def s(a, b, c): pass\n"
        "    def outer(self):\n"
        "        def inner(self, x): pass\n"
    )
    assert _functions(tree) == [
        ("f", 1, 4),
        ("K.m", 3, 2),
        ("K.c", 5, 1),
        ("K.s", 7, 3),
        ("K.outer", 8, 0),
        ("K.outer.inner", 9, 2),  # a nested function's `self` is an ordinary parameter
    ]

"""The package's shape: no import cycles, no hidden imports, no oversized code.

This mirrors no module: it reads every file of ``torchgeo_lsr/`` with :mod:`ast`
and checks that

* the import graph of the package's modules has no cycle, counting every import
  statement (module level and inside functions, relative and absolute) but those
  under ``if TYPE_CHECKING:``;
* no function imports a module of the package (such imports hide cycles; only
  optional heavy third-party dependencies may be imported lazily);
* no module is over 600 lines and no function over 80 code lines (blank lines,
  comment-only lines and docstrings do not count; the signature does), but for
  the named exceptions.

Each check lists all its offenders. The checkers take the package folder, so the
first tests run them on small made-up packages to show what they catch.
"""

import ast
import io
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / 'torchgeo_lsr'

#: Longest module, in lines.
MAX_MODULE_LINES = 600

#: Modules allowed to be longer (paths relative to the package folder): the losses
#: with their shared helpers, and the fused kernel.
LONG_MODULES = frozenset({'losses.py', '_fused.py'})

#: Longest function, in code lines.
MAX_FUNCTION_LINES = 80

#: Functions allowed to be longer: (path relative to the package, name). The fused
#: kernel's passes are one computation each, kept whole for speed.
LONG_FUNCTIONS = frozenset({('_fused.py', 'forward'), ('_fused.py', 'backward')})

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
        tokenize.ENCODING,
    }
)


@dataclass(frozen=True)
class Module:
    """A module of the package, parsed.

    Attributes:
        name: dotted name (a package's ``__init__`` is named as the package).
        path: the file.
        relative: the file's path relative to the package folder.
        source: the file's text.
        tree: the parsed file.
    """

    name: str
    path: Path
    relative: str
    source: str
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        if self.path.name == '__init__.py':
            return self.name
        return self.name.rpartition('.')[0]


@dataclass(frozen=True)
class ImportStatement:
    """An import statement of a module.

    Attributes:
        node: the statement.
        in_function: whether it is inside a function (at any depth).
    """

    node: ast.Import | ast.ImportFrom
    in_function: bool


def load_modules(root: Path) -> dict[str, Module]:
    """Parse every module of a package.

    Args:
        root: the package folder.

    Returns:
        The modules by dotted name.
    """
    modules = {}
    for path in sorted(root.rglob('*.py')):
        parts = path.relative_to(root.parent).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        source = path.read_text(encoding='utf-8')
        modules['.'.join(parts)] = Module(
            name='.'.join(parts),
            path=path,
            relative=path.relative_to(root).as_posix(),
            source=source,
            tree=ast.parse(source, filename=str(path)),
        )
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` (or ``typing.TYPE_CHECKING``)."""
    if isinstance(test, ast.Name):
        return test.id == 'TYPE_CHECKING'
    return isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING'


def import_statements(
    node: ast.AST, in_function: bool = False
) -> Iterator[ImportStatement]:
    """Every import statement under a node but those under ``if TYPE_CHECKING:``.

    Args:
        node: a parsed module (or any node).
        in_function: whether ``node`` is inside a function.

    Yields:
        The statements, in source order.
    """
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield ImportStatement(node, in_function)
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    inner = in_function or isinstance(node, (*_FUNCTIONS, ast.Lambda))
    for child in children:
        yield from import_statements(child, inner)


def _known_module(name: str, modules: Mapping[str, Module]) -> str | None:
    """The longest leading part of a dotted name that is a module of the package."""
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        candidate = '.'.join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imported_modules(
    module: Module, node: ast.Import | ast.ImportFrom, modules: Mapping[str, Module]
) -> set[str]:
    """The modules of the package an import statement imports.

    ``from X import NAME`` imports the submodule ``X.NAME`` if there is one, else
    module ``X`` (a package's ``__init__``): so ``from . import __version__`` in a
    submodule depends on its package's ``__init__``, and ``from . import sibling``
    only on the sibling.

    Args:
        module: the importing module.
        node: the statement.
        modules: the package's modules.

    Returns:
        The imported modules' names (none for third-party imports).
    """
    if isinstance(node, ast.Import):
        found = {_known_module(alias.name, modules) for alias in node.names}
        return {name for name in found if name is not None}
    if node.level:
        parts = module.package.split('.')
        parts = parts[: len(parts) - (node.level - 1)]
        source = '.'.join([*parts, *([node.module] if node.module else [])])
    else:
        source = node.module or ''
    targets = set()
    for alias in node.names:
        submodule = f'{source}.{alias.name}'
        target = submodule if submodule in modules else _known_module(source, modules)
        if target is not None:
            targets.add(target)
    return targets


def import_graph(modules: Mapping[str, Module]) -> dict[str, set[str]]:
    """Which modules of the package each module imports (any import statement).

    Args:
        modules: the package's modules.

    Returns:
        The imported modules by importing module.
    """
    graph = {}
    for name, module in modules.items():
        targets: set[str] = set()
        for statement in import_statements(module.tree):
            targets |= imported_modules(module, statement.node, modules)
        graph[name] = targets - {name}
    return graph


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of a graph (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _cycle_through(
    start: str, members: set[str], graph: Mapping[str, set[str]]
) -> list[str]:
    """A shortest cycle from ``start`` back to it within a strongly connected set."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f'{start} is on no cycle')  # not for a strong component


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Cycles of modules that import each other, directly or not.

    For every module tangled in a cycle, the shortest cycle through it; each cycle
    once, starting from its first module by name.

    Args:
        graph: the import graph.

    Returns:
        The cycles, each as ``[a, b, ..., a]``, sorted.
    """
    cycles = set()
    for component in _strongly_connected(graph):
        if len(component) == 1:
            continue
        for member in component:
            cycle = _cycle_through(member, set(component), graph)[:-1]
            first = cycle.index(min(cycle))
            cycles.add((*cycle[first:], *cycle[:first], min(cycle)))
    return [list(cycle) for cycle in sorted(cycles)]


def function_level_imports(modules: Mapping[str, Module]) -> list[str]:
    """Imports of the package's modules inside functions.

    Args:
        modules: the package's modules.

    Returns:
        ``path:line: statement`` of each.
    """
    found = []
    for module in modules.values():
        for statement in import_statements(module.tree):
            node = statement.node
            is_ours = (
                isinstance(node, ast.ImportFrom) and node.level > 0
            ) or imported_modules(module, node, modules)
            if statement.in_function and is_ours:
                found.append(f'{module.relative}:{node.lineno}: {ast.unparse(node)}')
    return found


def long_modules(
    modules: Mapping[str, Module], limit: int, allowed: frozenset[str]
) -> list[str]:
    """Modules over a number of lines.

    Args:
        modules: the package's modules.
        limit: most lines of a module.
        allowed: modules (paths relative to the package) allowed to be longer.

    Returns:
        ``path: N lines`` of each, longest first.
    """
    sizes = [
        (len(module.source.splitlines()), module.relative)
        for module in modules.values()
        if module.relative not in allowed
    ]
    return [
        f'{path}: {size} lines'
        for size, path in sorted(sizes, key=lambda item: (-item[0], item[1]))
        if size > limit
    ]


def _docstring_lines(tree: ast.Module) -> set[int]:
    """The lines of every docstring of a module, its classes and its functions."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, *_FUNCTIONS)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(
                    range(first.lineno, (first.end_lineno or first.lineno) + 1)
                )
    return lines


def code_lines(module: Module) -> set[int]:
    """The module's lines that hold code: not blank, not only a comment, no docstring.

    Args:
        module: the module.

    Returns:
        The line numbers (from 1).
    """
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(module.source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    text = module.source.splitlines()
    blank = {number for number in lines if not text[number - 1].strip()}
    return lines - blank - _docstring_lines(module.tree)


def long_functions(
    modules: Mapping[str, Module], limit: int, allowed: frozenset[tuple[str, str]]
) -> list[str]:
    """Functions (and methods) over a number of code lines (see :func:`code_lines`).

    Args:
        modules: the package's modules.
        limit: most code lines of a function, its signature included.
        allowed: (path relative to the package, function name) allowed to be longer.

    Returns:
        ``path:line name: N code lines`` of each, longest first.
    """
    sizes = []
    for module in modules.values():
        lines = code_lines(module)
        for node in ast.walk(module.tree):
            if (
                not isinstance(node, _FUNCTIONS)
                or (module.relative, node.name) in allowed
            ):
                continue
            end = node.end_lineno or node.lineno
            size = sum(1 for number in lines if node.lineno <= number <= end)
            if size > limit:
                sizes.append((size, f'{module.relative}:{node.lineno} {node.name}'))
    return [
        f'{where}: {size} code lines'
        for size, where in sorted(sizes, key=lambda item: (-item[0], item[1]))
    ]


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    """Write a made-up package for the checkers' own tests.

    Args:
        root: folder to write into.
        files: module sources by path relative to the package (``'sub/c.py'``).

    Returns:
        The package folder (``root / 'fake'``).
    """
    package = root / 'fake'
    for relative, source in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_a_package_importing_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            '__init__.py': 'from .a import A\nfrom .sub import C\n__version__ = "1"\n',
            'a.py': 'from . import b\nfrom .b import B\nA = B\n',
            'b.py': 'import os\nB = 1\n',
            'sub/__init__.py': 'from .c import C\n',
            'sub/c.py': 'from .d import D\nfrom .. import b\nimport fake.a\nC = D\n',
            'sub/d.py': 'from fake.sub import e\nD = 1\n',
            'sub/e.py': '',
        },
    )
    modules = load_modules(package)
    graph = import_graph(modules)
    assert graph['fake'] == {'fake.a', 'fake.sub'}
    assert graph['fake.a'] == {'fake.b'}
    assert graph['fake.sub.c'] == {'fake.sub.d', 'fake.b', 'fake.a'}
    assert graph['fake.sub.d'] == {'fake.sub.e'}
    assert import_cycles(graph) == []


def test_importing_a_name_of_the_parent_package_is_a_cycle(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            '__init__.py': '__version__ = "1"\nfrom .cli import main\n',
            'cli.py': 'from . import __version__\nfrom .tasks import run\nmain = run\n',
            'tasks.py': 'def run():\n    from .cli import main\n    return main\n',
        },
    )
    cycles = import_cycles(import_graph(load_modules(package)))
    assert cycles == [
        ['fake', 'fake.cli', 'fake'],
        ['fake.cli', 'fake.tasks', 'fake.cli'],
    ]


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            '__init__.py': '',
            'a.py': 'from .b import B\nA = B\n',
            'b.py': (
                'from typing import TYPE_CHECKING\nimport typing\n'
                'if TYPE_CHECKING:\n    from .a import A\n'
                'if typing.TYPE_CHECKING:\n    from fake import a\n'
                'else:\n    import json\nB = 1\n'
            ),
        },
    )
    modules = load_modules(package)
    assert import_graph(modules)['fake.b'] == set()
    assert function_level_imports(modules) == []


def test_function_level_imports_of_the_package_are_found(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            '__init__.py': '',
            'a.py': (
                'def f():\n    import json\n    import fake.b\n    return json\n'
                'class C:\n    def g(self):\n        from . import b\n'
                '        from .b import B\n        return b, B\n'
            ),
            'b.py': 'B = 1\n',
        },
    )
    assert function_level_imports(load_modules(package)) == [
        'a.py:3: import fake.b',
        'a.py:7: from . import b',
        'a.py:8: from .b import B',
    ]


def test_sizes_count_code_lines_only(tmp_path: Path) -> None:
    body = ''.join(f'    x{i} = {i}\n' for i in range(4))
    package = write_package(
        tmp_path,
        {
            '__init__.py': '',
            'a.py': (
                'def short(\n    a: int,\n) -> int:\n    """Docstring.\n\n    More.\n    """\n'
                '\n    # A comment.\n' + body + '    return a\n'
                'def long():\n    text = """\n\n# not a comment\n"""\n' + body
            ),
        },
    )
    modules = load_modules(package)
    # short: 3 signature lines + 4 assignments + return; long: def, 3 string, 4.
    assert long_functions(modules, 7, frozenset()) == [
        'a.py:1 short: 8 code lines',
        'a.py:15 long: 8 code lines',
    ]
    assert long_functions(modules, 8, frozenset()) == []
    assert (
        long_functions(modules, 7, frozenset({('a.py', 'short'), ('a.py', 'long')}))
        == []
    )
    assert long_modules(modules, 10, frozenset()) == ['a.py: 23 lines']
    assert long_modules(modules, 10, frozenset({'a.py'})) == []


@pytest.fixture(scope='module')
def modules() -> dict[str, Module]:
    return load_modules(PACKAGE)


def report(offenders: list[str], heading: str) -> None:
    """Fail listing every offender, without a traceback (the list says it all)."""
    if offenders:
        pytest.fail(f'{heading}:\n' + '\n'.join(offenders), pytrace=False)


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    cycles = import_cycles(import_graph(modules))
    report([' -> '.join(cycle) for cycle in cycles], 'import cycles')


def test_no_function_level_imports_of_the_package(modules: dict[str, Module]) -> None:
    report(
        function_level_imports(modules),
        'functions importing modules of the package (import them at module level; '
        'only optional heavy third-party dependencies may be imported lazily)',
    )


def test_no_long_modules(modules: dict[str, Module]) -> None:
    report(
        long_modules(modules, MAX_MODULE_LINES, LONG_MODULES),
        f'modules over {MAX_MODULE_LINES} lines',
    )


def test_no_long_functions(modules: dict[str, Module]) -> None:
    report(
        long_functions(modules, MAX_FUNCTION_LINES, LONG_FUNCTIONS),
        f'functions over {MAX_FUNCTION_LINES} code lines',
    )

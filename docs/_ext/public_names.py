"""A Sphinx extension: API pages that document each package through ``__all__``.

The API pages say ``.. automodule:: torchgeo_lsr.datamodules`` and nothing more;
this extension makes autodoc document exactly the package's public names, once each:

* every name in a module's ``__all__`` is documented, also constants and type
  aliases without a docstring, and also variables a package re-exports from the
  submodule that defines them (autodoc documents a module variable only when that
  module's own source holds its doc comment; here it gets the doc comment from the
  defining submodule);
* an object that several documented modules list (``torchgeo_lsr.nongeo`` re-exports
  the classes of ``torchgeo_lsr.nongeo.text``, ``torchgeo_lsr.datamodules`` the
  ``Region`` of ``torchgeo_lsr.grid``) is documented on one page only, so Sphinx sees
  no duplicate object;
* a variable without a doc comment is left undescribed, instead of showing the
  docstring of its value's type.

Because it works from the public names, other code can move between internal
modules without the API pages changing.
"""

import ast
import importlib
import importlib.util
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAliasType

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docstrings import prepare_docstring

__all__ = ('PublicNames', 'setup')

AUTOMODULE = re.compile(r'^\.\. automodule:: (\S+)', re.MULTILINE)


def documented_modules(pages: Path) -> tuple[str, ...]:
    """The modules the API pages document with ``automodule``.

    Args:
        pages: the folder of the API pages.

    Returns:
        The dotted module names, sorted.
    """
    texts = [page.read_text(encoding='utf-8') for page in sorted(pages.glob('*.rst'))]
    return tuple(sorted({name for text in texts for name in AUTOMODULE.findall(text)}))


def imported_names(module_name: str) -> set[str]:
    """The names a module binds by importing them (anywhere in its source).

    Args:
        module_name: a dotted module name.

    Returns:
        The names bound by ``import`` and ``from ... import`` statements.
    """
    tree = ast.parse(ModuleAnalyzer.for_module(module_name).code)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update(
                (alias.asname or alias.name).split('.')[0] for alias in node.names
            )
    return names


def home_module(obj: object, owners: list[str]) -> str:
    """Choose the one module whose page documents an object that several list.

    The module whose dotted name is the longest prefix of the module that defines
    the object wins (``torchgeo_lsr.nongeo.text`` over ``torchgeo_lsr.nongeo`` for
    a class of ``torchgeo_lsr.nongeo.text.prior``); otherwise the deepest module.

    Args:
        obj: the object, for its ``__module__``.
        owners: the documented modules that list it in ``__all__``.

    Returns:
        The chosen module.
    """
    defined_in = getattr(obj, '__module__', None)
    if isinstance(defined_in, str):
        prefixes = [
            owner
            for owner in owners
            if defined_in == owner or defined_in.startswith(owner + '.')
        ]
        if prefixes:
            return max(prefixes, key=len)
    return max(sorted(owners), key=lambda owner: owner.count('.'))


def reexports(modules: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """The (module, name) pairs that re-export an object documented elsewhere.

    Each object is documented on the page of the module that defines it, or, when
    every module that lists it imports it, of the module closest to where it is
    defined (:func:`home_module`). A module that defines the name is never skipped.

    Lazy names (a module ``__getattr__``) are resolved and set on the module, because
    autodoc finds members through ``dir()``.

    Args:
        modules: the documented modules.

    Returns:
        The pairs to leave out.
    """
    owners: dict[tuple[str, int], list[str]] = {}
    objects: dict[tuple[str, int], object] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, '__all__', ()):
            obj = getattr(module, name)
            setattr(module, name, obj)
            owners.setdefault((name, id(obj)), []).append(module_name)
            objects[name, id(obj)] = obj
    skipped = set()
    for (name, key), listed_by in owners.items():
        if len(listed_by) < 2:
            continue
        importers = [owner for owner in listed_by if name in imported_names(owner)]
        if len(importers) == len(listed_by):
            importers.remove(home_module(objects[name, key], listed_by))
        skipped.update((owner, name) for owner in importers)
    return frozenset(skipped)


def is_data(obj: object) -> bool:
    """Whether autodoc documents an object as a variable (a constant or an alias).

    Args:
        obj: a module member.

    Returns:
        ``False`` for classes, functions and ``type`` aliases.
    """
    return not (isinstance(obj, type | TypeAliasType) or inspect.isroutine(obj))


def attribute_doc(module_name: str, name: str, depth: int = 5) -> list[str]:
    """The doc comment of a module variable, following the imports that bind it.

    Args:
        module_name: the module that lists the variable.
        name: the variable's name there.
        depth: how many imports to follow at most.

    Returns:
        The lines of its doc comment (``#:`` or a string after the assignment), or
        none.
    """
    analyzer = ModuleAnalyzer.for_module(module_name)
    docs = analyzer.find_attr_docs()
    if ('', name) in docs:
        return list(docs['', name])
    if depth == 0:
        return []
    module = importlib.import_module(module_name)
    package = module_name if hasattr(module, '__path__') else module.__package__
    for node in ast.walk(ast.parse(analyzer.code)):
        if not isinstance(node, ast.ImportFrom):
            continue
        for alias in node.names:
            if (alias.asname or alias.name) == name:
                source = '.' * node.level + (node.module or '')
                source = importlib.util.resolve_name(source, package)
                return attribute_doc(source, alias.name, depth - 1)
    return []


@dataclass(frozen=True)
class PublicNames:
    """What the API pages document, and the autodoc event handlers that see to it.

    Attributes:
        modules: the modules the API pages document with ``automodule``.
        public: each module's ``__all__``.
        skipped: the (module, name) pairs documented on another module's page.
    """

    modules: tuple[str, ...]
    public: dict[str, frozenset[str]]
    skipped: frozenset[tuple[str, str]]

    @classmethod
    def from_pages(cls, pages: Path) -> 'PublicNames':
        """Import the modules the API pages document and sort out their names.

        Args:
            pages: the folder of the API pages.

        Returns:
            The public names.
        """
        modules = documented_modules(pages)
        public = {
            name: frozenset(getattr(importlib.import_module(name), '__all__', ()))
            for name in modules
        }
        return cls(modules, public, reexports(modules))

    def data_directives(self, module_name: str) -> list[str]:
        """``autodata`` directives for the public variables automodule leaves out.

        Args:
            module_name: a documented module.

        Returns:
            reStructuredText lines, with the doc comment of each variable from the
            module that defines it.
        """
        module = importlib.import_module(module_name)
        own_docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        lines = []
        for name in getattr(module, '__all__', ()):
            if (module_name, name) in self.skipped or ('', name) in own_docs:
                continue
            if not is_data(getattr(module, name)):
                continue
            doc = attribute_doc(module_name, name)
            lines += ['', f'.. autodata:: {module_name}.{name}', '']
            lines += [f'   {line}' if line else '' for line in doc]
        return lines

    def skip_member(
        self, app: Sphinx, what: str, name: str, obj: object, skip: bool, options: Any
    ) -> bool | None:
        """Keep every public name of a module, and skip those documented elsewhere.

        Args:
            app: the Sphinx application.
            what: the type of the object whose members are listed.
            name: the member's name.
            obj: the member.
            skip: autodoc's own decision.
            options: the directive's options.

        Returns:
            ``True`` to skip a re-export, ``False`` to keep a public name, ``None``
            to leave the decision to autodoc.
        """
        if what != 'module':
            return None
        module = app.env.current_document.autodoc_module
        if (module, name) in self.skipped:
            return True
        if name in self.public.get(module, ()):
            return False
        return None

    def add_data(
        self,
        app: Sphinx,
        what: str,
        name: str,
        obj: object,
        options: Any,
        lines: list[str],
    ) -> None:
        """Document a module's re-exported variables after its docstring.

        Args:
            app: the Sphinx application.
            what: the type of the object.
            name: its full name.
            obj: the object.
            options: the directive's options.
            lines: the docstring's lines, extended in place.
        """
        if what == 'module' and name in self.modules:
            lines.extend(self.data_directives(name))


def drop_type_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Leave a variable without a doc comment undescribed.

    Autodoc otherwise falls back to the docstring of the value's type (``dict``'s
    for a mapping), which says nothing about the variable and is not even valid
    reStructuredText.

    Args:
        app: the Sphinx application.
        what: the type of the object.
        name: its full name.
        obj: the object.
        options: the directive's options.
        lines: the docstring's lines, cleared in place.
    """
    if what not in {'data', 'attribute'} or not type(obj).__doc__:
        return
    type_lines = prepare_docstring(str(type(obj).__doc__))
    if [line for line in lines if line] == [line for line in type_lines if line]:
        lines.clear()


def connect(app: Sphinx) -> None:
    """Read the API pages' modules and connect the handlers (``builder-inited``).

    Args:
        app: the Sphinx application.
    """
    names = PublicNames.from_pages(Path(app.confdir) / app.config.public_names_pages)
    app.connect('autodoc-skip-member', names.skip_member)
    # After napoleon (priority 500), which would reformat the directives.
    app.connect('autodoc-process-docstring', names.add_data, priority=600)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension.

    Args:
        app: the Sphinx application.

    Returns:
        The extension's metadata.
    """
    app.setup_extension('sphinx.ext.autodoc')
    app.add_config_value('public_names_pages', 'api', 'env', types=(str,))
    app.connect('builder-inited', connect)
    # Before napoleon (priority 500), while the lines are the raw docstring.
    app.connect('autodoc-process-docstring', drop_type_docstring, priority=400)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}

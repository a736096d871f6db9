"""The documentation's shape: README, links, tutorials and API pages.

A short README whose links work, every notebook a tutorial, every public package and
module an API page.

The Sphinx build itself runs in ``make docs`` (part of ``make test``), not here.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
API = DOCS / 'api'
PACKAGE = ROOT / 'torchgeo_lsr'

# [text](target) and ![alt](target), with an optional "title".
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
TOCTREE = re.compile(r'```\{toctree\}\n(.*?)```', re.DOTALL)
AUTOMODULE = re.compile(r'^\.\. automodule:: (\S+)', re.MULTILINE)
# A repository path in inline code: `tests/test_losses.py`, `conf/synthetic.yaml`.
REPO_PATH = re.compile(
    r'`((?:benchmarks|conf|docs|notebooks|tests|torchgeo_lsr)/[^`\s]*)'
)
# Paths made at run time, or written as patterns.
GENERATED = ('docs/_build', 'docs/tutorials', 'notebooks/outputs')


def relative_links(markdown: str) -> list[str]:
    """The link targets of a Markdown text that are paths, without their anchors."""
    targets = []
    for target in LINK.findall(markdown):
        if re.match(r'[a-z][a-z0-9+.-]*:', target) or target.startswith('#'):
            continue  # a URL (https:, mailto:) or an anchor on the same page
        targets.append(target.split('#', 1)[0])
    return targets


def toctree_entries(markdown: str) -> list[str]:
    """The documents listed by the MyST toctrees of a page."""
    entries = []
    for body in TOCTREE.findall(markdown):
        for line in body.splitlines():
            line = line.strip()
            if line and not line.startswith(':'):
                entries.append(line)
    return entries


def rst_toctree_entries(rst: str) -> list[str]:
    """The documents listed by the reST toctrees of a page."""
    entries = []
    for block in re.findall(
        r'^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)', rst, re.MULTILINE
    ):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(':'):
                entries.append(line)
    return entries


def public_modules(package: Path, prefix: str = 'torchgeo_lsr') -> list[str]:
    """Dotted names of the public subpackages and modules directly in a package."""
    names = []
    for path in sorted(package.iterdir()):
        if path.name.startswith(('_', '.')):
            continue
        if path.is_dir() and (path / '__init__.py').exists():
            names.append(f'{prefix}.{path.name}')
        elif path.suffix == '.py':
            names.append(f'{prefix}.{path.stem}')
    return names


def public_subpackages(package: Path, prefix: str = 'torchgeo_lsr') -> list[str]:
    """Dotted names of every public subpackage below a package, at any depth."""
    names = []
    for init in sorted(package.rglob('__init__.py')):
        parts = init.parent.relative_to(package).parts
        if parts and not any(part.startswith('_') for part in parts):
            names.append('.'.join((prefix, *parts)))
    return names


def documented_modules() -> set[str]:
    """The modules the API pages document with ``automodule``."""
    return {
        name
        for page in API.glob('*.rst')
        for name in AUTOMODULE.findall(page.read_text(encoding='utf-8'))
    }


def test_readme_is_short() -> None:
    lines = (ROOT / 'README.md').read_text(encoding='utf-8').splitlines()
    assert len(lines) <= 200, (
        f'README.md has {len(lines)} lines; the docs hold the rest'
    )


def test_readme_links_exist() -> None:
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    targets = relative_links(readme)
    assert targets, 'README.md links into the docs'
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f'README.md links to missing files: {missing}'


def test_readme_links_into_the_user_guide() -> None:
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    linked = {(ROOT / target).resolve() for target in relative_links(readme)}
    pages = sorted((DOCS / 'user').glob('*.md'))
    assert pages
    unlinked = [page.name for page in pages if page.resolve() not in linked]
    assert not unlinked, f'README.md does not link to {unlinked}'


@pytest.mark.parametrize(
    'page',
    sorted(
        path
        for path in DOCS.rglob('*.md')
        if not path.relative_to(DOCS).parts[0].startswith(('_', 'tutorials'))
    ),
    ids=lambda path: str(path.relative_to(DOCS)),
)
def test_docs_links_exist(page: Path) -> None:
    targets = relative_links(page.read_text(encoding='utf-8'))
    missing = [target for target in targets if not (page.parent / target).exists()]
    assert not missing, f'{page.relative_to(ROOT)} links to missing files: {missing}'


def named_repo_paths(text: str) -> list[str]:
    """The concrete repository paths a page names in inline code."""
    return [
        path
        for path in REPO_PATH.findall(text)
        if not path.startswith(GENERATED) and not any(char in path for char in '<*')
    ]


@pytest.mark.parametrize(
    'page',
    [
        ROOT / 'README.md',
        *sorted(
            path
            for path in DOCS.rglob('*.md')
            if not path.relative_to(DOCS).parts[0].startswith(('_', 'tutorials'))
        ),
    ],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_named_repo_paths_exist(page: Path) -> None:
    paths = named_repo_paths(page.read_text(encoding='utf-8'))
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f'{page.relative_to(ROOT)} names missing paths: {missing}'


def test_every_notebook_is_a_tutorial() -> None:
    entries = toctree_entries((DOCS / 'tutorials.md').read_text(encoding='utf-8'))
    notebooks = sorted((ROOT / 'notebooks').glob('*.ipynb'))
    assert notebooks
    expected = [f'tutorials/{notebook.stem}' for notebook in notebooks]
    missing = [entry for entry in expected if entry not in entries]
    assert not missing, f'docs/tutorials.md does not list {missing}'
    stale = [entry for entry in entries if entry not in expected]
    assert not stale, f'docs/tutorials.md lists notebooks that do not exist: {stale}'


def test_every_public_module_has_an_api_page() -> None:
    index = rst_toctree_entries((API / 'index.rst').read_text(encoding='utf-8'))
    for module in public_modules(PACKAGE):
        name = module.rsplit('.', 1)[1]
        page = API / f'{name}.rst'
        assert page.exists(), f'{module} has no API page docs/api/{name}.rst'
        assert module in AUTOMODULE.findall(page.read_text(encoding='utf-8'))
        assert name in index, f'docs/api/index.rst does not list {name}'


def test_every_public_subpackage_is_documented() -> None:
    documented = documented_modules()
    missing = [name for name in public_subpackages(PACKAGE) if name not in documented]
    assert not missing, f'no API page documents {missing}'


def test_api_pages_document_existing_modules() -> None:
    stale = []
    for name in documented_modules():
        path = ROOT.joinpath(*name.split('.'))
        if not (path.with_suffix('.py').exists() or (path / '__init__.py').exists()):
            stale.append(name)
    assert not stale, f'API pages document modules that do not exist: {stale}'
    pages = {page.stem for page in API.glob('*.rst')} - {'index'}
    index = rst_toctree_entries((API / 'index.rst').read_text(encoding='utf-8'))
    assert sorted(pages) == sorted(index)


def test_helpers_parse_links_and_toctrees() -> None:
    text = (
        '[a](docs/a.md#x) ![b](docs/b.png) [c](https://example.org) [d](#here)\n'
        '```{toctree}\n:maxdepth: 1\n\nuser/a\nuser/b\n```\n'
    )
    assert relative_links(text) == ['docs/a.md', 'docs/b.png']
    assert toctree_entries(text) == ['user/a', 'user/b']
    assert named_repo_paths(
        '`conf/a.yaml` `conf/<city>_x.yaml` `docs/_build/html` `tests/` `tests/b.py`'
    ) == ['conf/a.yaml', 'tests/', 'tests/b.py']
    rst = '.. toctree::\n   :maxdepth: 1\n\n   datasets\n   losses\n\nText\n'
    assert rst_toctree_entries(rst) == ['datasets', 'losses']

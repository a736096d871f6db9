"""Sphinx configuration of the torchgeo-lsr documentation site.

The site builds offline (``make docs``): the user guide is Markdown (MyST), the
tutorials are the notebooks of ``notebooks/`` rendered without running them
(nbsphinx), and the API reference documents each package through its public names
(``__all__``, see ``_ext/public_names.py``), so that moving code between internal
modules does not change it.
"""

import os
import shutil
import sys
from pathlib import Path

import pypandoc

import torchgeo_lsr

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOKS = ROOT / 'notebooks'
# Generated at build time and git-ignored: nbsphinx reads notebooks only from inside
# the source directory, and the notebooks must stay in notebooks/ (the tests run them
# there).
TUTORIALS = DOCS / 'tutorials'

# Local extensions (docs/_ext/public_names.py).
sys.path.insert(0, str(DOCS / '_ext'))


# -- Project -------------------------------------------------------------------------

project = 'torchgeo-lsr'
author = 'torchgeo-lsr developers'
copyright = 'torchgeo-lsr developers'
release = torchgeo_lsr.__version__
version = '.'.join(release.split('.')[:2])

# -- General -------------------------------------------------------------------------

extensions = [
    'myst_parser',
    'nbsphinx',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    # Each package documented through its __all__, each object once.
    'public_names',
]
# No sphinx.ext.viewcode: its page per module (each with the whole navigation) would
# add a third to the build time; the source is one click away in the repository.
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', '**.ipynb_checkpoints', 'tutorials/outputs']
# No intersphinx: the build must not touch the network.

# -- MyST (the user guide, also read on GitHub) ---------------------------------------

# No dollarmath: MathJax would come from a CDN, and a site built offline is often
# read offline; the formulas are written out in Unicode instead.
# GitHub-style anchors, so `page.md#a-heading` links work on the site and on GitHub.
myst_heading_anchors = 3

# -- Autodoc and napoleon --------------------------------------------------------------

autodoc_default_options = {
    'members': True,
    'special-members': '__init__',
    'show-inheritance': True,
}
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_typehints_description_target = 'documented'
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# The folder of the API pages, whose automodule directives public_names reads.
public_names_pages = 'api'

# -- nbsphinx (the tutorials) ---------------------------------------------------------

# The notebooks are stored without outputs and run by the test suite, not by the docs.
nbsphinx_execute = 'never'

# -- HTML ------------------------------------------------------------------------------

html_theme = 'furo'
html_title = f'torchgeo-lsr {release}'

# nbsphinx converts the notebooks' Markdown with pandoc; the pypandoc-binary wheel
# ships one, so no system package is needed.
os.environ['PATH'] = (
    str(Path(pypandoc.get_pandoc_path()).parent) + os.pathsep + os.environ['PATH']
)


def copy_notebooks(source: Path, target: Path) -> None:
    """Mirror the notebooks into the documentation source tree.

    A notebook is copied only when its content changed, so Sphinx (which rebuilds
    what is newer than its last build) does not re-read unchanged tutorials; copies
    whose notebook was removed are deleted.

    Args:
        source: the folder of the notebooks (``notebooks/``).
        target: the folder inside the source tree (``docs/tutorials/``).
    """
    target.mkdir(exist_ok=True)
    stems = []
    for notebook in sorted(source.glob('*.ipynb')):
        copy = target / notebook.name
        if not copy.exists() or copy.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, copy)
        stems.append(notebook.stem)
    for copy in target.glob('*.ipynb'):
        if copy.stem not in stems:
            copy.unlink()


copy_notebooks(NOTEBOOKS, TUTORIALS)

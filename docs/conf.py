"""Sphinx configuration for the skfrl documentation.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    .venv/bin/python -m sphinx -b html docs docs/_build/html

The build works offline, and so do the pages: math is rendered by a copy
of MathJax that ``sphinx-mathjax-offline`` (in the ``docs`` extra) puts in
``_static/mathjax`` instead of loading it from a CDN. Cross-links to other
projects' documentation (intersphinx) need network access and are off unless
the environment variable ``SKFRL_DOCS_INTERSPHINX=1`` is set. Add
``-D plot_gallery=0`` to skip running the gallery examples.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from sphinx.util import logging

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Import skfrl from the checkout when it is not installed, and the local
# Sphinx helpers.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "sphinxext"))

import skfrl  # noqa: E402

logger = logging.getLogger(__name__)

# -- Project information -----------------------------------------------------
project = "skfrl"
author = "The skfrl developers"
copyright = "The skfrl developers"
release = skfrl.__version__
version = re.sub(r"(\.dev\d*|rc\d*|a\d*|b\d*)$", "", release)

# -- General configuration ---------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# MathJax served from the built pages (docs/_build/html/_static/mathjax), not
# from a CDN: the extension ships MathJax 3 with its fonts and points
# ``mathjax_path`` at the local copy. Its module name has hyphens.
MATHJAX_OFFLINE = "sphinx-mathjax-offline"
if importlib.util.find_spec(MATHJAX_OFFLINE) is not None:
    extensions.append(MATHJAX_OFFLINE)

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "sphinxext",
    # Files sphinx-gallery writes next to its output; not pages.
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.codeobj.json",
    "auto_examples/*.zip",
    "sg_execution_times.rst",
]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "alphabetical"}
# Signatures come from __init__ (documented in the class docstring).
autoclass_content = "class"
autodoc_typehints = "none"
# autosummary's own tables list the members; numpydoc's would repeat them.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- Intersphinx (opt-in: needs network access) ------------------------------
if os.environ.get("SKFRL_DOCS_INTERSPHINX", "") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "fairlearn": ("https://fairlearn.org/main", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }
    intersphinx_timeout = 10

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Execute every plot_*.py script; other scripts are only rendered.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skfrl",),
    "reference_url": {"skfrl": None},
    "backreferences_dir": "gen_modules/backreferences",
    "reset_modules": ("matplotlib", "gallery_utils.reset_sklearn_config"),
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": False,
    "matplotlib_animations": False,
}

# -- HTML output -------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # pragma: no cover - fallback keeps the build working
    html_theme = "alabaster"
    html_theme_options: dict = {}
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navbar_align": "left",
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
        "footer_start": ["copyright"],
        "footer_end": ["sphinx-version"],
    }
html_title = f"skfrl {version}"
html_static_path: list[str] = []
html_show_sourcelink = False


# -- Check that api.rst lists every public name ------------------------------
API_MODULES = [
    "skfrl.models",
    "skfrl.metrics",
    "skfrl.datasets",
    "skfrl.nn",
    "skfrl.utils",
    "skfrl.utils.estimator_checks",
    "skfrl.attacks",
    "skfrl.defenses",
    "skfrl.evaluation",
    "skfrl.plotting",
]


def _documented_names(api_rst: Path) -> dict[str, set[str]]:
    """Names listed in api.rst's autosummary tables, per currentmodule."""
    names: dict[str, set[str]] = {}
    module = None
    in_table = False
    for line in api_rst.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        match = re.match(r"\.\. currentmodule:: (\S+)", stripped)
        if match:
            module = match.group(1)
            continue
        if stripped.startswith(".. autosummary::"):
            in_table = True
            continue
        if in_table:
            if not stripped or stripped.startswith(":"):
                continue
            if not line.startswith(" "):
                in_table = False
                continue
            names.setdefault(module, set()).add(stripped)
    return names


def check_api_coverage(app) -> None:
    """Warn about public names (``__all__``) that api.rst does not list."""
    documented = _documented_names(DOCS / "api.rst")
    for module_name in API_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        except Exception as exc:  # a module being edited may fail to import
            logger.warning("api check: importing %s failed: %s", module_name, exc)
            continue
        public = set(getattr(module, "__all__", ()))
        missing = sorted(public - documented.get(module_name, set()))
        if missing:
            logger.warning(
                "api.rst does not list these public names of %s: %s",
                module_name,
                ", ".join(missing),
            )


_FOREIGN_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def unlink_foreign_refs(app, what, name, obj, options, lines) -> None:
    """Turn :ref: and :term: roles of inherited third-party docstrings to text.

    Methods inherited from scikit-learn (``score``, ``set_output``,
    ``set_fit_request``, ...) refer to labels and glossary terms of
    scikit-learn's own documentation, which do not exist here and, without
    intersphinx, would each raise a warning.
    """
    if "sphinx.ext.intersphinx" in app.config.extensions:
        return
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in ("skfrl", ""):
        return
    for i, line in enumerate(lines):
        lines[i] = _FOREIGN_ROLE.sub(lambda m: m.group(1) or m.group(2), line)


#: Inherited from skorch, but part of every model's scikit-learn API.
_ALWAYS_DOCUMENTED = {"get_params", "set_fit_request"}


def skip_foreign_members(app, what, name, obj, skip, options):
    """Keep class pages to skfrl's API.

    Class pages list inherited members, so that e.g. ``fit`` and
    ``transform`` show on every model. Skipped: members that skorch or torch
    define (the many ``NeuralNet`` and ``nn.Module`` methods; subclass
    authors find them in those projects' documentation), class-valued
    attributes (skorch configuration such as ``optimizer``), and the
    placeholders ``BaseFairNet`` uses to hide skorch methods.
    """
    if what != "class" or name in _ALWAYS_DOCUMENTED:
        return None
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in ("skorch", "torch"):
        return True
    if isinstance(obj, type) or type(obj).__name__ == "_Unavailable":
        return True
    return None


def check_offline_math(app) -> None:
    """Warn when math would load MathJax from a CDN."""
    if MATHJAX_OFFLINE not in app.config.extensions:
        logger.warning(
            "%s is not installed: the pages load MathJax from a CDN and show "
            "raw LaTeX offline. Install the docs extra: pip install -e '.[docs]'.",
            MATHJAX_OFFLINE,
        )


def setup(app):
    app.connect("builder-inited", check_api_coverage)
    app.connect("builder-inited", check_offline_math)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("autodoc-process-docstring", unlink_foreign_refs, priority=400)

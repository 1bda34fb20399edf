"""Sphinx configuration for the teleflow_py docs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from teleflow_py import __version__

project = "teleflow_py"
author = "Teleflow contributors"
copyright = "Teleflow contributors, MIT License"
release = __version__
version = __version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "teleflow_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
autodoc_member_order = "bysource"
# The clients' settings are described once, on the shared constructor (_base_client.py).
autoclass_content = "both"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "furo"
html_title = f"teleflow_py {__version__}"
exclude_patterns = ["_build", "examples"]
nitpicky = False

"""Sphinx configuration for the teleflow_py docs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleflow_py import __version__

project = "teleflow_py"
author = "The teleflow_py authors"
release = __version__
version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_title = f"teleflow_py {__version__}"
exclude_patterns = ["_build"]
nitpicky = False

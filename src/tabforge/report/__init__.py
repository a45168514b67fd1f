"""``tabforge report``: a version's (or two versions') self-contained HTML page, or its data.

The server imports ``render_version`` and ``render_comparison`` (no file I/O, no
scikit-learn); the CLI reads the registry with ``report.load`` first.
"""

from tabforge.report.compare import comparison_doc, render_comparison
from tabforge.report.subject import Subject
from tabforge.report.version import render_subject, render_version, version_doc

__all__ = [
    "Subject",
    "comparison_doc",
    "render_comparison",
    "render_subject",
    "render_version",
    "version_doc",
]

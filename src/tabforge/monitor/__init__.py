"""Drift monitoring: a reference per version, counting served batches, PSI/JS per window.

``reference_of(manifest)`` gives a version's reference (stored at training, else rebuilt
from an older manifest's data profile, else None); a ``Binner`` built from it turns each
batch's feed and outputs into one counts vector; ``report(reference, counts, rows)`` judges
a window of summed counts. The server, ``tabforge drift`` and ``predict --monitor`` share
all three, so they give the same numbers for the same rows.
"""

from tabforge.contract import ColumnReference, Reference
from tabforge.monitor.binner import Binner
from tabforge.monitor.profile import reference_of
from tabforge.monitor.stats import report

__all__ = ["Binner", "ColumnReference", "Reference", "reference_of", "report"]

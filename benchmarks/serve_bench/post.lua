-- One POST body for every request of a wrk run; serve_bench.py sets the environment.
--   SERVE_BENCH_BODY          file holding the exact request body (JSON or V2 binary)
--   SERVE_BENCH_CONTENT_TYPE  Content-Type header (default application/json)
--   SERVE_BENCH_HEADER_LEN    if set: Inference-Header-Content-Length (V2 binary extension)
local path = assert(os.getenv("SERVE_BENCH_BODY"), "SERVE_BENCH_BODY is not set")
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = os.getenv("SERVE_BENCH_CONTENT_TYPE") or "application/json"
local header_len = os.getenv("SERVE_BENCH_HEADER_LEN")
if header_len and header_len ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_len
end

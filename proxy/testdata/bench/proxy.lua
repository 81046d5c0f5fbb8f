-- wrk script for the pixelwall load benchmark (.ci/bench-proxy).
--
-- wrk cannot use a forward proxy by itself: it is pointed at the proxy's
-- address, and this script makes every request line absolute-form
-- ("GET http://127.0.0.1:PORT/path HTTP/1.1"), as a browser does when it
-- talks to a proxy, with the Host header of the target rather than the
-- proxy. Without BENCH_URL wrk's own URL is requested as usual (the direct
-- reference run).
--
--   BENCH_URL=http://127.0.0.1:9000/bench/x/page.html \
--     wrk -t2 -c64 -d10s -s proxy.lua http://127.0.0.1:8080/
--
-- done() prints one machine-readable line:
--   RESULT requests=N duration_us=N rps=N p50_us=N p90_us=N p99_us=N
--          max_us=N mean_us=N errors_connect=N ... errors_status=N
local target = os.getenv("BENCH_URL")
if target and target ~= "" then
  local host = target:match("^%a[%w+.-]*://([^/]+)")
  assert(host, "BENCH_URL must be an absolute http URL")
  wrk.path = target
  wrk.headers["Host"] = host
end

-- wrk.init builds the request once from wrk.method, wrk.path and
-- wrk.headers and sends those bytes for every request: no Lua per request.

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d errors_status=%d bytes=%d\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, summary.bytes))
end

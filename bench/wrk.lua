-- wrk script for bench/run.mjs: one operation per wrk run, one JSON "RESULT" line at the end.
-- Env: OP=<label>  TARGET=<path and query>  METHOD=GET|PUT (default GET)
--      PROJECT=<caller project id> (unset: no identity headers, e.g. GET /versions)
--      ROLES=member,reader (default)
--      BODIES=accepted,rejected  for PUT: {"status": "<s>"} bodies, sent in turn
local op      = os.getenv("OP") or "op"
local target  = assert(os.getenv("TARGET"), "TARGET not set")
local method  = os.getenv("METHOD") or "GET"
local project = os.getenv("PROJECT")
local bodies  = os.getenv("BODIES") or "accepted,rejected"

wrk.headers["Accept"] = "application/json"
if project and project ~= "" then
  wrk.headers["X-Identity-Status"] = "Confirmed"
  wrk.headers["X-Project-Id"] = project
  wrk.headers["X-User-Id"] = "bench-user"
  wrk.headers["X-Roles"] = os.getenv("ROLES") or "member,reader"
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
function init(args)
  statuses = {}
  if method == "PUT" then
    wrk.headers["Content-Type"] = "application/json"
    for s in string.gmatch(bodies, "[^,]+") do
      table.insert(reqs, wrk.format("PUT", target, nil, '{"status": "' .. s .. '"}'))
    end
  else
    reqs[1] = wrk.format(method, target, nil, nil)
  end
end

function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local hist = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do hist[k] = (hist[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(hist) do table.insert(parts, string.format('"%d": %d', k, v)) end
  table.sort(parts)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'RESULT {"op": "%s", "requests": %d, "duration_s": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, '
      .. '"p99_ms": %.3f, "max_ms": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d}, "statuses": {%s}}\n',
    op, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end

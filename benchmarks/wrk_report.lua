-- Shared wrk reporting: counts the responses with the expected status in every thread and prints
-- one machine-readable line at the end:  WRK_JSON {...}  (latencies in microseconds).
-- Used alone for plain GETs (argument: the expected status, default 200) and loaded by
-- wrk_form.lua for the patient form POSTs.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

expected_status = 200
ok_count = 0
bad_count = 0
bad_status = 0

function init(args)
  expected_status = tonumber(args[1]) or 200
end

function response(status, headers, body)
  if status == expected_status then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
    bad_status = status
  end
end

function done(summary, latency, requests)
  local ok, bad, last_bad = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + (thread:get("ok_count") or 0)
    bad = bad + (thread:get("bad_count") or 0)
    local status = thread:get("bad_status") or 0
    if status ~= 0 then last_bad = status end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "ok": %d, "unexpected": %d, "unexpected_status": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, ok, bad, last_bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max))
end

-- wrk script for the check-in figure: POST /checkin exactly as the browser form sends it.
-- Arguments after "--": clients file (one "cookie-header<TAB>csrf-token" line per logged-in patient),
-- a run prefix (keeps idempotency keys unique across runs), and the Origin to send.
-- Every request carries a fresh idempotency_key, the patient's session cookie, and the CSRF token
-- in both the csrftoken cookie and the _csrf_token field. Success is 303 (see wrk_report.lua).

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk_report.lua")

local clients = {}
local counter = 0
local prefix = "bench"
local origin = nil
local note = "Walked%20by%20the%20river.%20Felt%20a%20bit%20lighter%20than%20yesterday."

function init(args)
  expected_status = 303
  for line in io.lines(args[1]) do
    local cookie, token = line:match("^(.-)\t(.+)$")
    if cookie then table.insert(clients, {cookie = cookie, token = token}) end
  end
  prefix = (args[2] or "bench") .. "-t" .. tostring(id)
  origin = args[3]
  -- Threads start at different clients so that concurrent requests spread over the patients.
  counter = (id - 1) * 7
end

function request()
  counter = counter + 1
  local client = clients[(counter % #clients) + 1]
  local body = string.format(
    "mood=%d&anxiety=%d&energy=%d&safety=none&sleep_hours=%s&sleep_quality=%d&note=%s&idempotency_key=%s-%d&_csrf_token=%s",
    counter % 11, (counter * 3) % 11, (counter * 7) % 11, ({"6.5", "7", "7.5", "8"})[(counter % 4) + 1],
    counter % 5, note, prefix, counter, client.token)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = client.cookie,
  }
  if origin then headers["Origin"] = origin end
  return wrk.format("POST", "/checkin", headers, body)
end

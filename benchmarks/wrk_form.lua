-- wrk script for the form figures: POST a patient form exactly as the browser sends it.
-- Arguments after "--": clients file (one "cookie-header<TAB>csrf-token" line per logged-in patient),
-- a run prefix (keeps idempotency keys unique across runs), the Origin to send, and the form:
--   checkin  POST /checkin: mood, anxiety, energy, "none" on the safety question, sleep and a note;
--            a fresh idempotency_key; success is 303.
--   phq9     POST /questionnaires/phq9: a mild PHQ-9 (total 8, item 9 = 0, so no alert), stored,
--            scored and evaluated with the patient's history; success is 201.
-- Every request carries the patient's session cookie and the CSRF token in both the csrftoken
-- cookie and the _csrf_token field (wrk_report.lua counts the expected status).

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk_report.lua")

local clients = {}
local counter = 0
local prefix = "bench"
local origin = nil
local form = "checkin"
local note = "Walked%20by%20the%20river.%20Felt%20a%20bit%20lighter%20than%20yesterday."

local forms = {
  checkin = {
    path = "/checkin",
    status = 303,
    fields = function(n)
      return string.format("mood=%d&anxiety=%d&energy=%d&safety=none&sleep_hours=%s&sleep_quality=%d&note=%s",
        n % 11, (n * 3) % 11, (n * 7) % 11, ({"6.5", "7", "7.5", "8"})[(n % 4) + 1], n % 5, note)
    end,
  },
  phq9 = {
    path = "/questionnaires/phq9",
    status = 201,
    fields = function(_)
      return "q1=1&q2=1&q3=1&q4=1&q5=1&q6=1&q7=1&q8=1&q9=0&difficulty=1"
    end,
  },
}

function init(args)
  for line in io.lines(args[1]) do
    local cookie, token = line:match("^(.-)\t(.+)$")
    if cookie then table.insert(clients, {cookie = cookie, token = token}) end
  end
  prefix = (args[2] or "bench") .. "-t" .. tostring(id)
  origin = args[3]
  form = args[4] or "checkin"
  expected_status = forms[form].status
  -- Threads start at different clients so that concurrent requests spread over the patients.
  counter = (id - 1) * 7
end

function request()
  counter = counter + 1
  local client = clients[(counter % #clients) + 1]
  local spec = forms[form]
  local body = string.format("%s&idempotency_key=%s-%d&_csrf_token=%s", spec.fields(counter), prefix, counter, client.token)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = client.cookie,
    ["Accept"] = "text/html",
  }
  if origin then headers["Origin"] = origin end
  return wrk.format("POST", spec.path, headers, body)
end

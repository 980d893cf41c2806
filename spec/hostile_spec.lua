-- Every public call against every mode of the hostile server
-- (spec/support/fake/hostile.lua: the same answers put on the wire the
-- nasty ways a real network does), on both transports: libcurl in this
-- process and nginx cosockets inside OpenResty (spec/support/openresty/).
-- The split, chunked, interim and plain modes run over TLS too.
--
-- The expectations are the target contract, by mode (MODES below): the
-- right answer where HTTP allows one, else the right error kind, always
-- within a bound, never raising, and no secret (access token, client
-- secret, their Basic encoding, a token the login obtained: whole,
-- JSON-escaped or any 16-byte piece of one) in an error, last_response(),
-- a log entry or a revoke_many result.
--
-- Each case's cosocket call is started before its libcurl call and both
-- run at once (openresty.call_async), so slow modes cost their time once.
-- A watchdog (outcome.lua's bound) turns a sleep that would pass a case's
-- bound into a raised "hostile watchdog" error. The random mode's pieces
-- follow from the nonces, which carry the seed: HOSTILE_SEED=n repeats a run.
local fake = require "spec.support.fake"
local openresty = require "spec.support.openresty"
local outcome = require "spec.support.openresty.outcome"
local tokens = require "genesys.tokens"
local cjson = require "cjson"
local mime = require "mime"

local SEED = tonumber(os.getenv("HOSTILE_SEED") or "") or os.time() % 1000000
-- Upper time bounds stretch under valgrind (its preload is in LD_PRELOAD)
-- or by HOSTILE_TIME_SCALE; lower bounds (a wait the server asked for) do not.
local SCALE = tonumber(os.getenv("HOSTILE_TIME_SCALE") or "")
  or ((os.getenv("LD_PRELOAD") or ""):find("vgpreload", 1, true) and 4 or 1)

---------------------------------------------------------------- secrets

-- A token of n visible characters from `alphabet`, fixed by `k`.
local function made_token(prefix, n, alphabet, k)
  local t = { prefix }
  for i = #prefix + 1, n do
    local j = (i * k + i * i * 7) % #alphabet + 1
    t[#t + 1] = alphabet:sub(j, j)
  end
  return table.concat(t)
end

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local TOKENS = {
  short = made_token("hT", 24, ALNUM, 31),
  long = made_token("Lg", 260, ALNUM .. "-_", 17), -- past the 127 bytes a correlation id keeps
  odd = "Od-_.~+/=" .. made_token("", 12, ALNUM, 13) .. "-_.~+/=" .. made_token("", 10, ALNUM, 29) .. "==",
}
local TOKEN_NAMES = { "short", "long", "odd" }
-- The token a call passes itself (opts.access_token), over the client's.
local PER_CALL_TOKEN = "Pc/+" .. made_token("", 30, ALNUM .. "-_.~", 37) .. "=="
local CLIENT_ID = "hostile-client-Ye4"
local CLIENT_SECRET = "Sx-_.~+/=" .. made_token("", 20, ALNUM, 23) .. "/=="
local BASIC = mime.b64(CLIENT_ID .. ":" .. CLIENT_SECRET)

---------------------------------------------------------------- the calls

local RETRY = { max_attempts = 3, base_delay = 0.01, max_delay = 0.05, budget = 5 }
local TIMEOUT = 1.5 -- the client's, for the matrix
local SLOW_TIMEOUT = 0.6 -- for the stall and trickle modes: each case waits it out
local PUT_VALUE = { enableIdleTokenTimeout = true, idleTokenTimeoutSeconds = 1800, inactivityTimeoutUnit = "Minutes" }
local IDS = { "hostile-user-1", "hostile-user-2", "hostile-user-3" }

-- want: what the right answer is. bodyless: the answer has no body (a HEAD
-- or a 204), so a stalled or trickled body is no answer's concern. rounds:
-- how many requests follow one another (revoke_many: 3 ids, 2 at a time).
local CALLS = {
  me = { call = "me", want = "info" },
  verify = { call = "verify", want = "true", bodyless = true },
  revoke_me = { call = "revoke_me", want = "true", bodyless = true },
  revoke = { call = "revoke", args = { "hostile-user-1" }, want = "true", bodyless = true },
  idle_timeout = { call = "idle_timeout", want = "idle" },
  set_idle_timeout = { call = "set_idle_timeout", args = { PUT_VALUE }, want = "put" },
  revoke_many = { call = "revoke_many", args = { IDS, { concurrency = 2 } }, want = "bulk", bodyless = true, rounds = 2 },
  ["login+me"] = { call = "me", login = true, want = "info", rounds = 2 },
  -- With a token of the call's own: it must be scrubbed as the client's is.
  ["me+token"] = { call = "me", args = { { access_token = PER_CALL_TOKEN } }, want = "info", per_call = true },
  ["revoke_many+token"] = { call = "revoke_many", args = { IDS, { concurrency = 2, access_token = PER_CALL_TOKEN } },
    want = "bulk", bodyless = true, rounds = 2, per_call = true },
}
local ALL = { "me", "verify", "revoke_me", "revoke", "idle_timeout", "set_idle_timeout", "revoke_many", "login+me" }
local ECHO_CALLS = { "me+token", "revoke_many+token" }
for _, c in ipairs(ALL) do ECHO_CALLS[#ECHO_CALLS + 1] = c end

---------------------------------------------------------------- expectations

-- result: "ok" (the right answer), "ok_or_network", "http429", "too_large",
-- "http400", "timeout", "network". Per transport: result_curl / result_ngx.
-- calls: the calls run (all by default). tls: over TLS too. bound: seconds
-- the call may take (default DEFAULT_BOUND; timeout modes: the client's
-- timeout per round + 0.5). at_least: seconds it must take. attempts:
-- last_response().attempts of a single call (default 1 on "ok").
-- echo: run with each token, with and without a trace logger.
local DEFAULT_BOUND = 2.5
local FAST = 0.5
local MODES = {
  plain = { result = "ok", tls = true },
  bytes = { result = "ok", tls = true },
  random = { result = "ok", tls = true },
  chunked = { result = "ok", tls = true },
  interim = { result = "ok", tls = true },
  huge_header = { result = "too_large" },
  -- A header line that never ends: refused once the header block is full,
  -- never buffered without bound (on cosockets a read holds at most that).
  endless_line = { result = "too_large" },
  -- One header line a byte every 100 ms: each byte restarts a cosocket
  -- read's timeout, yet the attempt ends at its deadline.
  slow_line = { result = "timeout", timeout = SLOW_TIMEOUT },
  many_headers = { result = "too_large" },
  -- Rate-limit headers that make no sense: the answer stands; the fields
  -- are nil or non-negative numbers; revoke_many still ends at once.
  ratelimit_zero = { result = "ok", ratelimit = "any", bulk_bound = 1 },
  ratelimit_negative = { result = "ok", ratelimit = "any", bulk_bound = 1 },
  ratelimit_huge = { result = "ok", ratelimit = "any", bulk_bound = 1 },
  ratelimit_garbage = { result = "ok", ratelimit = "any", bulk_bound = 1 },
  -- 429 once, then the answer: the wait is the server's (1 s, a date
  -- 1-2 s ahead), or a backoff when the value is unusable.
  retry_after_seconds = { result = "ok", attempts = 2, at_least = 0.9 },
  retry_after_date = { result = "ok", attempts = 2, at_least = 0.9, bound = 3.5 },
  retry_after_past_date = { result = "ok", attempts = 2, bound = FAST },
  retry_after_negative = { result = "ok", attempts = 2, bound = FAST },
  retry_after_garbage = { result = "ok", attempts = 2, bound = FAST },
  -- The 429 says its window is used up and ends in 1 s; the answers before
  -- and after it say 60 s: the wait is still the 429's 1 s.
  retry_after_ratelimit = { result = "ok", attempts = 2, at_least = 0.9 },
  -- 429 always, asking for more than the retry budget: returned at once.
  retry_after_far_date = { result = "http429", retry_after = { 3500, 3600 }, bound = FAST },
  retry_after_huge = { result = "http429", retry_after = { 3600, math.huge }, bound = FAST },
  echo = { result = "http400", echo = true, calls = ECHO_CALLS },
  echo_ok = { result = "ok", echo = true, calls = ECHO_CALLS },
  stall_headers = { result = "timeout", timeout = SLOW_TIMEOUT },
  trickle_headers = { result = "timeout", timeout = SLOW_TIMEOUT },
  -- A HEAD or a 204 ends with its headers: the stalled body is none of its business.
  stall_body = { result = "timeout", bodyless = "ok", timeout = SLOW_TIMEOUT },
  trickle_body = { result = "timeout", bodyless = "ok", timeout = SLOW_TIMEOUT },
  close_early = { result = "network" },
  garbage_status = { result = "network" },
  -- libcurl (7.88) refuses a header line without a colon outright
  -- (CURLE_WEIRD_SERVER_REPLY "Header without colon"), whatever the library
  -- does: a legitimate difference. odd_headers is the rest of it, for both.
  nonsense_headers = { result = "ok", result_curl = "ok_or_network" },
  odd_headers = { result = "ok" },
  bad_content_length = { result = "ok_or_network" },
  bad_content_length_alpha = { result = "ok_or_network" },
  http10 = { result = "ok" },
  lf_only = { result = "ok" },
  connection_close = { result = "ok" },
  mixed_case = { result = "ok" },
  no_reason = { result = "ok" },
}

---------------------------------------------------------------- cases

local CASES = {}
do
  local names = {}
  for mode in pairs(MODES) do names[#names + 1] = mode end
  table.sort(names)
  local serial = 0
  local function add(mode, scheme, call_name, token_name, logged)
    serial = serial + 1
    local m = MODES[mode]
    local call = CALLS[call_name]
    local c = {
      mode = mode, scheme = scheme, call_name = call_name, call = call, m = m, logged = logged,
      token_name = not call.login and token_name or nil,
      nonce = ("%d-%d"):format(SEED, serial),
      timeout = m.timeout or TIMEOUT,
    }
    c.token = c.token_name and TOKENS[c.token_name]
    local title = { mode, scheme, call_name }
    if c.token_name then title[#title + 1] = "token:" .. c.token_name end
    if logged then title[#title + 1] = "logged" end
    c.title = table.concat(title, " ")
    CASES[#CASES + 1] = c
  end
  for _, mode in ipairs(names) do
    local m = MODES[mode]
    for _, scheme in ipairs(m.tls and { "http", "https" } or { "http" }) do
      for _, call_name in ipairs(m.calls or ALL) do
        if m.echo then
          for _, t in ipairs(CALLS[call_name].login and { "short" } or TOKEN_NAMES) do
            add(mode, scheme, call_name, t, false)
            add(mode, scheme, call_name, t, true)
          end
        else
          -- One token per case, in turn: all three meet every kind of mode.
          add(mode, scheme, call_name, TOKEN_NAMES[serial % 3 + 1], false)
        end
      end
    end
  end
end

-- What a case expects of a transport: result, bound (seconds), at_least.
local function expectation(case, transport)
  local m, call = case.m, case.call
  local result = m["result_" .. transport] or m.result
  if call.bodyless and m.bodyless then result = m.bodyless end
  local bound = (m.bound or DEFAULT_BOUND) * SCALE
  if result == "timeout" then bound = case.timeout * (call.rounds or 1) + 0.5 * SCALE end
  if call.want == "bulk" and m.bulk_bound then bound = m.bulk_bound * SCALE end
  return result, bound, m.at_least
end

---------------------------------------------------------------- checks

local srv, FIXED, INFO, IDLE

local function no_nulls(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do
    if x ~= cjson.null then t[k] = no_nulls(x) end
  end
  return t
end

-- A whole number without ".0" (JSON made the ngx outcome's numbers floats).
local function n(v)
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
  return tostring(v)
end

-- A short account of an outcome, for failure messages.
local function show(o)
  if o.raised then return "raised: " .. o.raised end
  local e = o.err
  local parts = { ("value=%s"):format(type(o.value) == "table" and "table" or tostring(o.value)) }
  if e then
    parts[#parts + 1] = ("err=%s %s %s: %s"):format(tostring(e.kind), n(e.status), tostring(e.code),
      tostring(e.message):sub(1, 160))
  end
  if o.elapsed then parts[#parts + 1] = ("%.3f s"):format(o.elapsed) end
  return table.concat(parts, " ")
end

-- The secrets of a case: the fixed token, or the client secret, its Basic
-- encoding and every token the server issued under the nonce.
local function secrets_of(case, record)
  if case.call.per_call then
    return { { "access token " .. case.token_name, case.token }, { "per-call token", PER_CALL_TOKEN } }
  end
  if not case.call.login then return { { "access token " .. case.token_name, case.token } } end
  local list = { { "client secret", CLIENT_SECRET }, { "Basic credentials", BASIC } }
  for i, t in ipairs(record.tokens or {}) do list[#list + 1] = { "obtained token " .. i, t } end
  return list
end

-- How `text` shows a secret, or nil: whole, JSON-escaped, or a 16-byte piece.
local PIECE = 16
local function leak_in(text, secret)
  if text:find(secret, 1, true) then return "whole" end
  local escaped = cjson.encode(secret):sub(2, -2)
  if escaped ~= secret and text:find(escaped, 1, true) then return "JSON-escaped" end
  for i = 1, #secret - PIECE + 1 do
    if text:find(secret:sub(i, i + PIECE - 1), 1, true) then return "a " .. PIECE .. "-byte piece" end
  end
end

-- Every place in `v` (an outcome) showing a secret: "path: how (which)".
local function leaks(v, secrets, path, out, depth)
  out, depth = out or {}, depth or 0
  if type(v) == "string" then
    for _, s in ipairs(secrets) do
      local how = leak_in(v, s[2])
      if how then out[#out + 1] = ("%s: %s (%s)"):format(path, how, s[1]) end
    end
  elseif type(v) == "table" and depth < 12 then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      if type(k) == "string" then leaks(k, secrets, path .. "[key]", out, depth + 1) end
      leaks(v[k], secrets, path .. "." .. tostring(k), out, depth + 1)
    end
  end
  return out
end

-- revoke_many's three results (JSON made the ngx list's keys strings).
local function bulk_results(v)
  local list = {}
  for i = 1, #IDS do list[i] = type(v) == "table" and (v[i] or v[tostring(i)]) or nil end
  return list
end

local function ok_value(case, o, record)
  local want = case.call.want
  if want == "info" then
    assert.same(INFO, o.value, "the TokenInfo, its JSON null field absent")
  elseif want == "true" then
    assert.is_true(o.value, "true")
  elseif want == "idle" then
    assert.same(IDLE, o.value)
  elseif want == "put" then
    assert.same(PUT_VALUE, o.value)
    local got
    for _, q in ipairs(record.requests) do
      if q.method == "PUT" then got = q.body end
    end
    assert.same(PUT_VALUE, cjson.decode(got or "null"), "the server got the value")
  elseif want == "bulk" then
    assert.is_table(o.value, "a results list")
    for i, r in ipairs(bulk_results(o.value)) do
      assert(r and r.ok == true, ("id %d: %s"):format(i, r and r.err and tostring(r.err.text) or "no result"))
    end
    assert.same({ 3, 0 }, { o.value.succeeded, o.value.failed })
  end
end

-- Fails unless `o` is the error `kind` (and `status`); for revoke_many,
-- every id's error is.
local function error_of(case, o, kind, status, check)
  if case.call.want == "bulk" then
    assert(type(o.value) == "table" and not o.err, "revoke_many gives a results list: " .. show(o))
    for i, r in ipairs(bulk_results(o.value)) do
      assert(r and r.ok == false and r.err, ("id %d: expected an error %s, got ok = %s (attempts %s)")
        :format(i, kind, tostring(r and r.ok), n(r and r.attempts)))
      assert(r.err.kind == kind and (status == nil or r.err.status == status),
        ("id %d: expected %s %s, got %s %s: %s"):format(i, kind, n(status), tostring(r.err.kind),
          n(r.err.status), tostring(r.err.text)))
      if check then check(r.err) end
    end
    return
  end
  assert(o.value == nil or (case.call.call == "verify" and o.value == false), "no value: " .. show(o))
  assert(o.err, "an error: " .. show(o))
  assert(o.err.kind == kind and (status == nil or o.err.status == status),
    ("expected %s %s, got %s"):format(kind, n(status), show(o)))
  if check then check(o.err) end
end

local function is_count(v) return v == nil or (type(v) == "number" and v >= 0 and v == math.floor(v)) end

-- Every way `o` misses the case's expectation, each problem on its own
-- line (all of them, not only the first: the failure list is the point).
local function check(case, transport, o)
  local result, bound, at_least = expectation(case, transport)
  local m, call = case.m, case.call
  assert(not o.raised, "raised: " .. tostring(o.raised))
  local problems = {}
  local function try(what, f)
    local ok, e = pcall(f)
    if not ok then
      if type(e) == "table" then e = e.message or tostring(e) end
      problems[#problems + 1] = "[" .. what .. "] " .. tostring(e):gsub("^[^\n]-hostile_spec%.lua:%d+: ", "")
    end
  end

  try("time", function()
    assert(o.elapsed <= bound, ("took %.3f s, bound %.2f s"):format(o.elapsed, bound))
    if at_least then
      assert(o.elapsed >= at_least, ("took %.3f s: the server asked for at least %.1f s"):format(o.elapsed, at_least))
    end
  end)

  local record = fake.hostile(case.nonces[transport])
  try("secret", function()
    local found = leaks(o, secrets_of(case, record), "outcome")
    assert(#found == 0, "secrets shown: " .. table.concat(found, "; "))
  end)

  local lr = o.last_response
  try("last_response", function()
    if lr and not lr.raised and lr.ratelimit then
      for _, k in ipairs { "count", "allowed", "reset" } do
        assert(is_count(lr.ratelimit[k]), ("last_response().ratelimit.%s is %s"):format(k, n(lr.ratelimit[k])))
      end
    end
    assert(not (lr and lr.raised), "last_response() raised: " .. tostring(lr and lr.raised))
    assert(lr == nil or lr.attempts == nil or (type(lr.attempts) == "number" and lr.attempts >= 1), "attempts")
  end)

  if result == "ok_or_network" then
    result = o.err and o.err.kind == "network" and "network" or "ok"
    if call.want == "bulk" and type(o.value) == "table" and o.value.failed ~= 0 then result = "network" end
  end
  local login_kind = call.login and "auth" or "http"
  if result == "ok" then
    try("result", function()
      assert(not o.err, "the right answer, got " .. show(o))
      ok_value(case, o, record)
    end)
    try("last_response", function()
      assert(type(lr) == "table" and type(lr.status) == "number" and lr.status >= 200 and lr.status < 300,
        "last_response() of a success: " .. cjson.encode(lr or {}))
      if call.want == "bulk" then return end
      local last = record.requests[#record.requests]
      if m ~= MODES.echo_ok then
        assert(last.correlation_id == lr.correlation_id, ("last_response().correlation_id %s, sent %s")
          :format(tostring(lr.correlation_id), tostring(last.correlation_id)))
      end
      if not m.ratelimit then
        local rl = lr.ratelimit or {}
        assert(rl.allowed == 300 and rl.reset == 60, ("last_response().ratelimit allowed/reset %s/%s, sent 300/60")
          :format(n(rl.allowed), n(rl.reset)))
      end
      local attempts = call.login and 1 or m.attempts or 1
      assert(lr.attempts == attempts, ("last_response().attempts %s, want %d"):format(n(lr.attempts), attempts))
    end)
    if call.login then
      try("login", function()
        local q = record.requests
        assert.equal("/oauth/token", q[1].path)
        assert.equal("Basic " .. BASIC, q[1].authorization)
        assert.equal("grant_type=client_credentials", q[1].body)
        assert("Bearer " .. tostring(record.tokens[#record.tokens]) == q[#q].authorization,
          "the call used the token the login obtained")
      end)
    end
  elseif result == "http429" then
    local lo, hi = m.retry_after[1], m.retry_after[2]
    try("result", function()
      error_of(case, o, call.login and "auth" or "http", 429, function(e)
        assert(type(e.retry_after) == "number" and e.retry_after >= lo and e.retry_after <= hi,
          ("err.retry_after %s, want %s..%s"):format(n(e.retry_after), n(lo), n(hi)))
      end)
    end)
  elseif result == "http400" then
    try("result", function() error_of(case, o, login_kind, 400) end)
  else -- too_large, timeout, network
    try("result", function() error_of(case, o, result) end)
  end
  assert(#problems == 0, table.concat(problems, "\n") .. "\n  (" .. show(o) .. ")")
end

---------------------------------------------------------------- running

local function client_for(case, transport)
  local base = (case.scheme == "https" and ("https://localhost:" .. srv.tls_port) or srv.http_url)
    .. "/hostile/" .. case.mode .. "/" .. case.nonces[transport]
  local o = { base_url = base, timeout = case.timeout, connect_timeout = 1, retry = RETRY }
  if case.call.login then
    o.client_id, o.client_secret, o.login_url = CLIENT_ID, CLIENT_SECRET, base
  else
    o.access_token = case.token
  end
  if case.scheme == "https" and transport == "curl" then o.ca_file = srv.ca_file end
  if case.logged then o.log_level, o.log_bodies = "trace", true end
  return o
end

local function spec_of(case, transport)
  local _, bound = expectation(case, transport)
  return { client = client_for(case, transport), call = case.call.call, args = case.call.args,
    extra = { log = case.logged, last_response = true, bound = bound + 1 } }
end

local pending = {} -- case -> the wait of its cosocket call, started early

local function start_ngx(case)
  local spec = spec_of(case, "ngx")
  return openresty.call_async(spec, spec.extra.bound + 10)
end

describe("hostile network", function()
  lazy_setup(function()
    srv = fake.start()
    openresty.start(srv)
    FIXED = fake.hostile()
    INFO = no_nulls(cjson.decode(FIXED.token_info))
    IDLE = cjson.decode(FIXED.idle_timeout)
    print(("hostile_spec: seed %d (HOSTILE_SEED=%d repeats the random mode's pieces)"):format(SEED, SEED))
  end)
  lazy_teardown(function()
    openresty.stop()
    fake.stop()
  end)

  it("has an expectation for every mode the server has", function()
    for _, mode in ipairs(FIXED.modes) do assert.is_table(MODES[mode], "no expectation for mode " .. mode) end
    assert.truthy(FIXED.token_info:find('"clonedUser":null', 1, true), "a JSON null field is sent")
    assert.is_true(#TOKENS.long > 200)
  end)

  for _, case in ipairs(CASES) do
    case.nonces = { curl = case.nonce .. "c", ngx = case.nonce .. "n" }
    describe(case.title, function()
      it("curl", function()
        pending[case] = pending[case] or start_ngx(case)
        local spec = spec_of(case, "curl")
        local o = outcome.run(tokens, spec.client, spec.call, spec.args, nil, spec.extra)
        check(case, "curl", o)
      end)
      it("ngx", function()
        local wait = pending[case] or start_ngx(case)
        pending[case] = nil
        check(case, "ngx", wait())
      end)
    end)
  end
end)

-- genesys.tokens.gate in real nginx with 2 workers, against the fake
-- Genesys Cloud: every status, every setting, single-flight, stale-on-error,
-- forget, HMAC cache keys, metrics, the fan-out cap and the bad inputs, on
-- the cold path (a token the gate has not seen) and the warm one.
local fake = require "spec.support.fake"
local gates = require "spec.support.gate"
local nginx = require "spec.support.nginx"
local cjson = require "cjson"
local socket = require "socket"

local seed = fake.seed
local ACME, TRUSTOR = seed.orgs.acme.id, seed.orgs.trustor.id
local WEB_APP = seed.clients.web_app.id
local TIMEOUT = 15 -- seconds any one request to a gate may take
local q = nginx.q

-- Gate A: the one most cases use. Short ttls so expiry can be seen;
-- every identity header on; preflights let through; nginx passes names
-- with underscores, so that the gate must strip X_Genesys_Org_Id itself;
-- verdicts in a dict of another name.
local SETTINGS_A = ([[
  orgs = { %q }, ttl = 2, negative_ttl = 1, stale_ttl = 60, timeout = 1, max_retry_after = 30, dict = "verdicts",
  retry = false, headers = { home_org = true, scopes = true }, allow_preflight = true,
]]):format(ACME)
-- Gate B: the allowlists and the other switches; counters in a dict of their own.
local SETTINGS_B = ([[
  orgs = { %q, "00000000-0000-4000-8000-000000000000" }, oauth_clients = { %q },
  metrics_dict = "genesys_metrics", connect_timeout = 1,
  scopes = { "users:readonly", "oauth" }, hide_credentials = true, realm = "acme api",
  headers = { org = "X-Org", oauth_client = false }, max_pending = 3, ttl = 60, retry = false,
]]):format(ACME, WEB_APP)

-- Every token the spec sends, looked for in the logs and the dict at the end.
local sent = {}

-- One request through a gate: status, JSON body (the upstream's echo) or
-- raw body, headers (lower-case names).
local function get(g, opts)
  opts = opts or {}
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if opts.token then
    sent[#sent + 1] = opts.token
    headers.authorization = "Bearer " .. opts.token
  end
  if opts.authorization then headers.authorization = opts.authorization end
  local status, body, h = nginx.request(g.url .. (opts.path or "/anything"), opts.method or "GET", nil, TIMEOUT, headers)
  assert(status, "request to the gate failed: " .. tostring(body))
  local ok, echoed = pcall(cjson.decode, body)
  if ok and type(echoed) == "table" and echoed.headers then -- names as nginx passed them, in lower case
    local lower = {}
    for k, v in pairs(echoed.headers) do lower[k:lower()] = v end
    echoed.headers = lower
  end
  return status, ok and echoed or body, h
end

-- A request written by hand (what luasocket will not send): status, head, body.
local function raw(g, head)
  local conn = assert(socket.connect("127.0.0.1", g.port))
  conn:settimeout(TIMEOUT)
  assert(conn:send(head))
  local response = conn:receive("*a")
  conn:close()
  local status = tonumber(response:match("^HTTP/1%.%d (%d%d%d)"))
  local header_end = response:find("\r\n\r\n", 1, true) or #response
  return status, response:sub(1, header_end), response:sub(header_end + 4)
end

local function head_with(token, extra)
  return "GET /anything HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer " .. token .. "\r\n"
    .. (extra or "") .. "Connection: close\r\n\r\n"
end

-- The GET /api/v2/tokens/me requests the fake received with `token`.
local function me_calls(token)
  local n = 0
  for _, e in ipairs(fake.log()) do
    if e.path == "/api/v2/tokens/me" and e.headers.authorization == "Bearer " .. token then n = n + 1 end
  end
  return n
end

-- A fresh token of the fake's: { token, org_id, scopes, ... }.
local serial = 0
local function new_token(spec)
  serial = serial + 1
  spec = spec or {}
  spec.token = spec.token or ("tok-gate-" .. serial .. "-" .. math.random(1e6))
  spec.user_id = spec.user_id or seed.users.alice.id
  fake.add_token(spec)
  return spec.token
end

-- The gate's metrics as { ["name{labels}"] = value }.
local function metrics(g)
  local status, body, h = nginx.request(g.url .. "/metrics", "GET", nil, TIMEOUT)
  assert.equal(200, status)
  assert.equal("text/plain; version=0.0.4", h["content-type"])
  local m = {}
  for line in body:gmatch("[^\n]+") do
    if not line:find("^#") then
      local name, value = line:match("^(%S+) (%S+)$")
      assert(name, "not an exposition line: " .. line)
      m[name] = tonumber(value)
    end
  end
  return m, body
end

local function delta(before, after, name) return (after[name] or 0) - (before[name] or 0) end

local function answers_by_status(answers)
  local by = {}
  for _, a in ipairs(answers) do
    local s = a and a:match("^HTTP/1%.1 (%d+)") or "unfinished"
    by[s] = (by[s] or 0) + 1
  end
  return by
end

-- Digests of `s` in the forms a dump of the dict could show them.
local function digests(s)
  local forms = {}
  for _, alg in ipairs { "sha1", "sha256" } do
    local cmd = ("printf %%s %s | openssl dgst -%s -binary"):format(q(s), alg)
    local p = assert(io.popen(cmd))
    local bin = p:read("*a")
    p:close()
    assert.equal(alg == "sha1" and 20 or 32, #bin)
    forms[#forms + 1] = bin
    forms[#forms + 1] = (bin:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
    local b64 = nginx.capture(cmd .. " | base64 -w0")
    forms[#forms + 1] = b64
    forms[#forms + 1] = (b64:gsub("=+$", ""):gsub("%+", "-"):gsub("/", "_"))
  end
  return forms
end

-- The dict's keys and values, decoded: { { dict, key, value }, ... }.
local function dump(g)
  local status, body = nginx.request(g.url .. "/_spec/dump", "GET", nil, TIMEOUT)
  assert.equal(200, status)
  local function unb64(s)
    local p = assert(io.popen("printf %s " .. q(s) .. " | base64 -d"))
    local out = p:read("*a")
    p:close()
    return out
  end
  local entries = {}
  for line in body:gmatch("[^\n]+") do
    local d, k, v = line:match("^(%S+) (%S*) (%S*)$")
    entries[#entries + 1] = { dict = d, key = unb64(k), value = unb64(v) }
  end
  return entries
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. ".000Z" end

describe("genesys.tokens.gate", function()
  local srv, A, B

  lazy_setup(function()
    srv = fake.start()
    A = gates.start { srv = srv, settings = SETTINGS_A,
      http = "underscores_in_headers on;\n    lua_shared_dict verdicts 10m;" }
    B = gates.start { srv = srv, settings = SETTINGS_B, http = "lua_shared_dict genesys_metrics 1m;" }
  end)

  lazy_teardown(function()
    gates.stop(A)
    gates.stop(B)
    fake.stop()
  end)

  before_each(function()
    fake.reset()
    for _, g in ipairs { A, B } do assert.equal(200, (nginx.request(g.url .. "/_spec/flush", "GET"))) end
  end)

  describe("setup", function()
    local function refused(settings, pattern)
      local ok, out = gates.try_settings(settings, srv)
      assert.is_false(ok, settings)
      assert.matches(pattern, out, 1, false)
    end

    it("raises without orgs, naming the setting", function()
      refused("ttl = 60", "setting 'orgs' is required")
    end)

    it("raises on an unknown setting, a wrong type, an empty or odd list, a missing dict, a bad region", function()
      refused('orgs = "*", tll = 60', "unknown setting 'tll'")
      refused('orgs = "*", ttl = "60"', "setting 'ttl' must be a number")
      refused('orgs = "acme"', "setting 'orgs' must be a list of organization ids or \"%*\"")
      refused("orgs = {}", "'orgs' must be a non%-empty list")
      refused('orgs = "*", scopes = { "a\\"b" }', "entries of 'scopes'")
      refused('orgs = "*", max_pending = 0.5', "max_pending")
      refused('orgs = "*", headers = { user = "X-User" }', "unknown header 'user'")
      refused('orgs = "*", headers = { org = "X Org" }', "headers.org must be a header name")
      refused('orgs = "*", dict = "nope"', "no shared dict 'nope'")
      refused('orgs = "*", region = "mars-north-9"', "region")
      refused('orgs = "*", retry = { tries = 3 }', "unknown retry option 'tries'")
    end)

    it("accepts orgs = \"*\" explicitly", function()
      local ok, out = gates.try_settings('orgs = "*"', srv)
      assert.is_true(ok, out)
    end)
  end)

  describe("on the way in", function()
    it("passes a valid token with the identity headers, and strips the client's own in every spelling", function()
      local status, seen = get(A, { token = "tok-cloned", headers = {
        ["X-Genesys-Org-Id"] = "forged", ["x-genesys-oauth-client-id"] = "forged",
        ["X_Genesys_Org_Id"] = "forged", ["x_genesys_scopes"] = "admin", ["X-Custom"] = "kept",
      } })
      assert.equal(200, status)
      local h = seen.headers
      assert.equal(ACME, h["x-genesys-org-id"])
      assert.equal(WEB_APP, h["x-genesys-oauth-client-id"])
      assert.equal(TRUSTOR, h["x-genesys-home-org-id"]) -- a trustee's clone: its home is the trustor
      assert.equal("users:readonly", h["x-genesys-scopes"])
      assert.equal("kept", h["x-custom"])
      assert.equal("Bearer tok-cloned", h.authorization) -- hide_credentials is off
      for name in pairs(h) do
        assert.is_nil(name:find("_"), "a forged header reached the upstream: " .. name)
      end
    end)

    it("strips forged identity headers repeated, huge, or injected on the warm path too", function()
      for _ = 1, 2 do -- cold, then warm
        local many = {}
        for i = 1, 300 do many[#many + 1] = ("X-Genesys-Org-Id: forged-%d\r\nx_genesys_org_id: f%d\r\n"):format(i, i) end
        many[#many + 1] = "X-Genesys-OAuth-Client-Id: " .. ("f"):rep(100000) .. "\r\n"
        local status, _, body = raw(A, head_with("tok-alice", table.concat(many)))
        assert.equal(200, status)
        local h = cjson.decode(body).headers
        assert.equal(ACME, h["X-Genesys-Org-Id"])
        assert.equal(WEB_APP, h["X-Genesys-OAuth-Client-Id"])
        assert.is_nil(h.x_genesys_org_id)
      end
      assert.equal(1, me_calls("tok-alice"))
    end)

    it("asks Genesys Cloud once per token with preserveIdleTTL=true, and answers the rest from the cache", function()
      for _ = 1, 20 do assert.equal(200, (get(A, { token = "tok-admin" }))) end
      assert.equal(1, me_calls("tok-admin"))
      local e = fake.log()[1]
      assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", e.request_uri)
    end)

    it("asks again once ttl has passed", function()
      assert.equal(200, (get(A, { token = "tok-bob-1" })))
      socket.sleep(2.2) -- ttl is 2
      assert.equal(200, (get(A, { token = "tok-bob-1" })))
      assert.equal(2, me_calls("tok-bob-1"))
    end)

    it("keeps a verdict no longer than the token's dateTokenIdles", function()
      local token = new_token { date_token_idles = iso(os.time() + 2), scopes = { "users:readonly", "oauth" } }
      assert.equal(200, (get(B, { token = token }))) -- B's ttl is 60
      assert.equal(200, (get(B, { token = token })))
      assert.equal(1, me_calls(token))
      socket.sleep(2.2)
      assert.equal(200, (get(B, { token = token }))) -- the fake does not idle tokens out
      assert.equal(2, me_calls(token))
    end)

    it("answers 401 invalid_token when Genesys Cloud refuses the token, and remembers it for negative_ttl", function()
      for _ = 1, 3 do
        local status, _, h = get(A, { token = "tok-nobody-knows" })
        assert.equal(401, status)
        assert.equal('Bearer realm="genesys", error="invalid_token"', h["www-authenticate"])
      end
      assert.equal(1, me_calls("tok-nobody-knows"))
      socket.sleep(1.2)
      assert.equal(401, (get(A, { token = "tok-nobody-knows" })))
      assert.equal(2, me_calls("tok-nobody-knows"))
    end)

    it("answers 401 with the realm alone to a request without a well-formed bearer token, asking nobody", function()
      for _, authorization in ipairs {
        false, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer two words", "Token tok-alice",
        "Bearertok-alice", "Bearer tok\"alice", "Bearer tok-alice=x", "Digest username=\"a\"",
        "Bearer " .. ("a"):rep(4097),
      } do
        local status, _, h = get(A, { authorization = authorization or nil })
        assert.equal(401, status, tostring(authorization))
        assert.equal('Bearer realm="genesys"', h["www-authenticate"])
      end
      local status, _, h = get(B, {})
      assert.equal(401, status)
      assert.equal('Bearer realm="acme api"', h["www-authenticate"])
      assert.equal(0, #fake.log())
    end)

    it("takes the scheme in any case, and tokens up to 4 KiB; refuses 1 MiB without asking", function()
      assert.equal(200, (get(A, { authorization = "bEaReR   tok-alice" })))
      assert.equal(200, (raw(A, "GET / HTTP/1.1\r\nHost: gate\r\nAuthorization:\tBearer tok-alice\t\r\n"
        .. "Connection: close\r\n\r\n"))) -- tabs as the whitespace around the value
      local big = new_token { token = ("k"):rep(4096) }
      for _ = 1, 2 do assert.equal(200, (get(A, { token = big }))) end -- cold, then warm
      assert.equal(1, me_calls(big))
      assert.equal(401, (get(A, { token = ("u"):rep(4096) }))) -- unknown: Genesys says 401
      local status = raw(A, head_with(("m"):rep(1024 * 1024)))
      assert.equal(401, status)
      assert.equal(3, #fake.log()) -- alice and the two 4 KiB tokens: not the 1 MiB one
    end)

    it("lets nginx refuse two Authorization headers before the gate runs", function()
      -- (nginx logs the second line at info level: these two are not in `sent`)
      local status = raw(A, "GET / HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer tok-dup-1\r\n"
        .. "Authorization: Bearer tok-dup-2\r\nConnection: close\r\n\r\n")
      assert.equal(400, status)
      assert.equal(0, #fake.log())
    end)

    it("lets a CORS preflight through without a token only when allow_preflight says so", function()
      local preflight = { ["Origin"] = "https://app.example", ["Access-Control-Request-Method"] = "POST" }
      local status, seen = get(A, { method = "OPTIONS", headers = preflight })
      assert.equal(200, status)
      assert.equal("OPTIONS", seen.method)
      assert.equal(401, (get(A, { method = "OPTIONS", headers = { ["Origin"] = "https://app.example" } })))
      assert.equal(401, (get(B, { method = "OPTIONS", headers = preflight })))
      assert.equal(0, #fake.log())
    end)
  end)

  describe("policy", function()
    it("answers 403 to a valid token of an organization not allowed", function()
      local token = new_token { org_id = TRUSTOR }
      for _, g in ipairs { A, B } do
        for _ = 1, 2 do
          local status, _, h = get(g, { token = token })
          assert.equal(403, status)
          assert.is_nil(h["www-authenticate"])
        end
      end
      assert.equal(2, me_calls(token)) -- once per gate: the 403 is cached too
    end)

    it("answers 403 to an OAuth client not allowed, and 403 insufficient_scope to missing scopes", function()
      local status, _, h = get(B, { token = "tok-admin" }) -- admin tool: not in oauth_clients
      assert.equal(403, status)
      assert.is_nil(h["www-authenticate"])
      status, _, h = get(B, { token = "tok-bob-1" }) -- users:readonly only
      assert.equal(403, status)
      assert.equal('Bearer realm="acme api", error="insufficient_scope", scope="users:readonly oauth"',
        h["www-authenticate"])
      local seen
      status, seen = get(B, { token = "tok-alice", headers = { ["x-org"] = "forged", ["X_Org"] = "forged",
        ["X-Genesys-OAuth-Client-Id"] = "not the gate's" } })
      assert.equal(200, status)
      assert.equal(ACME, seen.headers["x-org"])
      assert.is_nil(seen.headers["x-genesys-org-id"])
      -- a header the gate does not set is the client's own: it passes as sent
      assert.equal("not the gate's", seen.headers["x-genesys-oauth-client-id"])
      assert.is_nil(seen.headers.authorization)                 -- hide_credentials
    end)
  end)

  describe("without a verdict from Genesys Cloud", function()
    it("answers 503, caches nothing, and passes the token once Genesys Cloud is back", function()
      fake.fault { kind = "status", status = 503, times = 2 }
      assert.equal(503, (get(A, { token = "tok-bob-2" })))
      assert.equal(503, (get(A, { token = "tok-bob-2" })))
      assert.equal(200, (get(A, { token = "tok-bob-2" })))
      assert.equal(3, me_calls("tok-bob-2"))
    end)

    it("passes a Retry-After on, capped at max_retry_after", function()
      fake.fault { kind = "429", retry_after = 1000000000000, times = 1 }
      local status, _, h = get(A, { token = "tok-odd" })
      assert.equal(503, status)
      assert.equal("30", h["retry-after"])
      fake.fault { kind = "429", retry_after = 7, times = 1 }
      status, _, h = get(A, { token = "tok-bob-1" })
      assert.equal(503, status)
      assert.equal("7", h["retry-after"])
    end)

    it("answers 503 when Genesys Cloud is slower than the timeout", function()
      fake.fault { kind = "delay", seconds = 3, times = 1 } -- A's timeout is 1 s
      local t0 = socket.gettime()
      assert.equal(503, (get(A, { token = "tok-nulls" })))
      assert.is_true(socket.gettime() - t0 < 2.5)
    end)

    it("serves a stale valid verdict for up to stale_ttl, and never a stale refusal", function()
      assert.equal(200, (get(A, { token = "tok-alice" })))
      assert.equal(401, (get(A, { token = "tok-gone" })))
      socket.sleep(2.2) -- past ttl (2) and negative_ttl (1)
      fake.fault { kind = "status", status = 502, times = 10 }
      local before = metrics(A)
      local status, seen = get(A, { token = "tok-alice" })
      assert.equal(200, status)
      assert.equal(ACME, seen.headers["x-genesys-org-id"])
      assert.equal(503, (get(A, { token = "tok-gone" })))
      assert.equal(503, (get(A, { token = "tok-admin" }))) -- never seen: nothing to serve
      local after = metrics(A)
      assert.equal(1, delta(before, after, 'genesys_gate_requests_total{outcome="stale"}'))
      assert.equal(2, delta(before, after, 'genesys_gate_requests_total{outcome="unavailable"}'))
      fake.reset()
      assert.equal(200, (get(A, { token = "tok-alice" }))) -- asks again, and is fresh once more
    end)
  end)

  describe("single-flight", function()
    local function herd(g, token, n)
      local heads = {}
      for i = 1, n do heads[i] = head_with(token) end
      sent[#sent + 1] = token
      local answers = nginx.burst(g.port, heads, 30)
      return answers_by_status(answers)
    end

    it("makes one Genesys Cloud call for 200 concurrent requests with one new token, across both workers", function()
      fake.configure { latency = 0.2 }
      local token = new_token()
      local before = metrics(A)
      local by = herd(A, token, 200)
      assert.same({ ["200"] = 200 }, by)
      assert.equal(1, me_calls(token))
      local after = metrics(A)
      assert.equal(1, delta(before, after, 'genesys_gate_cache_total{result="miss"}'))
      assert.equal(199, delta(before, after, 'genesys_gate_cache_total{result="wait"}')
        + delta(before, after, 'genesys_gate_cache_total{result="hit"}'))
      assert.equal(200, delta(before, after, 'genesys_gate_requests_total{outcome="allowed"}'))
    end)

    it("shares a refusal, and a failure, the same way", function()
      fake.configure { latency = 0.5 } -- every request arrives while the one call runs
      assert.same({ ["401"] = 200 }, herd(A, "tok-herd-unknown", 200))
      assert.equal(1, me_calls("tok-herd-unknown"))
      fake.fault { kind = "status", status = 503, times = 1 }
      local token = new_token()
      assert.same({ ["503"] = 100 }, herd(A, token, 100))
      assert.equal(1, me_calls(token))
    end)

    it("caps cold validations in flight per worker at max_pending: 503 with Retry-After: 1 beyond", function()
      fake.configure { latency = 1 } -- every request arrives while the first leads run
      local heads = {}
      for i = 1, 30 do
        local token = new_token { scopes = { "users:readonly", "oauth" } }
        sent[#sent + 1] = token
        heads[i] = head_with(token)
      end
      local before = metrics(B)
      local answers = nginx.burst(B.port, heads, 30)
      local by = answers_by_status(answers)
      assert.equal(30, (by["200"] or 0) + (by["503"] or 0))
      assert.is_true((by["200"] or 0) >= 3 and (by["200"] or 0) <= 6, cjson.encode(by)) -- 3 per worker
      for _, a in ipairs(answers) do
        if a:match("^HTTP/1%.1 503") then assert.matches("\r\nRetry%-After: 1\r\n", a) end
      end
      local calls = 0
      for _, e in ipairs(fake.log()) do if e.path == "/api/v2/tokens/me" then calls = calls + 1 end end
      assert.equal(by["200"], calls)
      local after = metrics(B)
      assert.equal(by["503"], delta(before, after, 'genesys_gate_cache_total{result="shed"}'))
    end)
  end)

  describe("single-flight, harder", function()
    -- A gate of its own for the duration of `fn`.
    local function with_gate(o, fn)
      o.srv = srv
      local g = gates.start(o)
      local ok, err = pcall(fn, g)
      gates.stop(g)
      assert(ok, err)
    end

    it("makes one call per token with 4 workers, a herd right after another's answer included", function()
      with_gate({ workers = 4, settings = 'orgs = "*", retry = false' }, function(g)
        local tokens = {}
        for i = 1, 40 do
          tokens[i] = new_token()
          local heads = {}
          for j = 1, 40 do heads[j] = head_with(tokens[i]) end
          assert.same({ ["200"] = 40 }, answers_by_status((nginx.burst(g.port, heads, 30))))
        end
        local calls = {}
        for _, e in ipairs(fake.log()) do
          local t = e.headers.authorization:match("^Bearer (.*)$")
          calls[t] = (calls[t] or 0) + 1
        end
        for _, t in ipairs(tokens) do assert.equal(1, calls[t], t) end
      end)
    end)

    it("keeps validating when the leading request's client hangs up (lua_check_client_abort on)", function()
      with_gate({ workers = 1, settings = 'orgs = "*", retry = false, max_pending = 2',
        http = "lua_check_client_abort on;" }, function(g)
        fake.configure { latency = 0.3 }
        local conns = {}
        for i = 1, 5 do
          conns[i] = assert(socket.connect("127.0.0.1", g.port))
          assert(conns[i]:send(head_with(new_token())))
        end
        socket.sleep(0.05)
        for _, c in ipairs(conns) do c:close() end -- two were leading, three were shed
        socket.sleep(1) -- the two leads (0.3 s) are over
        for _ = 1, 3 do
          local status = get(g, { token = "tok-alice" })
          assert.equal(200, status) -- not shed: the two leads ended and were counted out
        end
      end)
    end)
  end)

  describe("forget", function()
    it("drops a token's verdict on every worker", function()
      local token = new_token()
      assert.equal(200, (get(A, { token = token })))
      fake.revoke_token(token)
      for _ = 1, 10 do assert.equal(200, (get(A, { token = token }))) end -- cached, on both workers
      assert.equal(200, (nginx.request(A.url .. "/_spec/forget", "GET", nil, TIMEOUT, { ["x-forget"] = token })))
      assert.equal(401, (get(A, { token = token })))
      assert.equal(2, me_calls(token)) -- asked again at once
      for _ = 1, 5 do assert.equal(401, (get(A, { token = token }))) end
    end)

    it("keeps a validation in flight while forget runs from caching or sharing its answer", function()
      fake.configure { latency = 0.8 } -- A's timeout is 1 s
      local token = new_token()
      sent[#sent + 1] = token
      local conn = assert(socket.connect("127.0.0.1", A.port))
      conn:settimeout(TIMEOUT)
      assert(conn:send(head_with(token)))
      socket.sleep(0.3) -- the validation is under way
      assert.equal(200, (nginx.request(A.url .. "/_spec/forget", "GET", nil, TIMEOUT, { ["x-forget"] = token })))
      local late = assert(socket.connect("127.0.0.1", A.port)) -- after the forget: it must not get the old answer
      late:settimeout(TIMEOUT)
      assert(late:send(head_with(token)))
      assert.matches("^HTTP/1%.1 200", conn:receive("*a")) -- that request began before the forget
      assert.matches("^HTTP/1%.1 503", late:receive("*a"))
      conn:close()
      late:close()
      fake.configure { latency = 0 }
      assert.equal(200, (get(A, { token = token })))
      assert.equal(2, me_calls(token)) -- asked again: the first answer was not cached
    end)

    it("refuses what is not a token", function()
      local status, body = nginx.request(A.url .. "/_spec/forget", "GET", nil, TIMEOUT)
      assert.equal(500, status, body)
      assert.matches("forget takes the token", assert(nginx.read_file(A.dir .. "/error.log")))
    end)
  end)

  describe("metrics", function()
    it("add up: outcomes, cache results, calls and the latency histogram", function()
      fake.configure { latency = 0.01 } -- so that the calls' durations add up to more than nginx's 1 ms clock
      local before = metrics(A)
      assert.equal(200, (get(A, { token = "tok-admin" })))   -- miss, 2xx
      assert.equal(200, (get(A, { token = "tok-admin" })))   -- hit
      assert.equal(401, (get(A, { token = "tok-nope" })))    -- miss, 4xx
      assert.equal(401, (get(A, {})))                       -- no token: no cache result
      fake.fault { kind = "status", status = 500, times = 1 }
      assert.equal(503, (get(A, { token = "tok-bob-1" })))   -- miss, 5xx
      local after, text = metrics(A)
      local function d(name) return delta(before, after, name) end
      assert.equal(2, d('genesys_gate_requests_total{outcome="allowed"}') + d('genesys_gate_requests_total{outcome="stale"}'))
      assert.equal(2, d('genesys_gate_requests_total{outcome="refused"}'))
      assert.equal(1, d('genesys_gate_requests_total{outcome="unavailable"}'))
      assert.equal(1, d('genesys_gate_cache_total{result="hit"}'))
      assert.equal(3, d('genesys_gate_cache_total{result="miss"}'))
      assert.equal(1, d('genesys_gate_genesys_calls_total{status="2xx"}'))
      assert.equal(1, d('genesys_gate_genesys_calls_total{status="4xx"}'))
      assert.equal(1, d('genesys_gate_genesys_calls_total{status="5xx"}'))
      assert.equal(3, d("genesys_gate_genesys_call_seconds_count"))
      assert.equal(3, d('genesys_gate_genesys_call_seconds_bucket{le="+Inf"}'))
      assert.is_true(d("genesys_gate_genesys_call_seconds_sum") >= 0.03)
      local last = 0
      for le in text:gmatch('genesys_gate_genesys_call_seconds_bucket{le="([^"]+)"}') do
        local v = after['genesys_gate_genesys_call_seconds_bucket{le="' .. le .. '"}']
        assert.is_true(v >= last, "buckets must be cumulative")
        last = v
      end
      -- every call counted once, by class, and once in the histogram
      local calls = 0
      for _, class in ipairs { "2xx", "3xx", "4xx", "5xx", "error" } do
        calls = calls + after['genesys_gate_genesys_calls_total{status="' .. class .. '"}']
      end
      assert.equal(calls, after.genesys_gate_genesys_call_seconds_count)
    end)
  end)

  describe("the cache", function()
    it("keys verdicts by HMAC-SHA1, as OpenSSL computes it", function()
      local status, bad = nginx.request(A.url .. "/_spec/hmac", "GET", nil, TIMEOUT)
      assert.equal(200, status)
      assert.equal("0", bad)
    end)


    it("holds no token, nor any SHA-1 or SHA-256 of one, and keys differ from one nginx start to the next", function()
      local tokens = { "tok-alice", "tok-admin", "tok-never-valid", ("k"):rep(64) }
      fake.add_token { token = tokens[4], user_id = seed.users.bob.id }
      for _, t in ipairs(tokens) do get(A, { token = t }) get(B, { token = t }) end
      local entries_a, entries_b = dump(A), dump(B)
      assert.is_true(#entries_a >= 4)
      for _, e in ipairs(entries_a) do -- A's verdicts and counters share its dict
        assert.equal("verdicts", e.dict, e.key)
      end
      for _, e in ipairs(entries_b) do -- B counts in a dict of its own
        if e.key:find("^metric:") then assert.equal("genesys_metrics", e.dict) else assert.equal("genesys_gate", e.dict) end
      end
      local keys_a = {}
      for _, e in ipairs(entries_a) do keys_a[e.key] = true end
      for _, e in ipairs(entries_b) do
        if e.key:find("^v:") then assert.is_nil(keys_a[e.key], "two nginx starts shared a cache key") end
      end
      local everything = {}
      for _, list in ipairs { entries_a, entries_b } do
        for _, e in ipairs(list) do everything[#everything + 1] = e.key .. "\0" .. e.value end
      end
      everything = table.concat(everything, "\n")
      for _, t in ipairs(sent) do
        assert.is_nil(everything:find(t, 1, true), "the dict holds a token")
        for _, form in ipairs(digests(t)) do
          assert.is_nil(everything:find(form, 1, true), "the dict holds a digest of a token")
        end
      end
    end)
  end)

  describe("with Genesys Cloud unreachable", function()
    it("answers 503 and logs why, never a token", function()
      local closed = nginx.free_ports(1)[1]
      -- base_url as a setting wins over the environment (the fake's URL)
      local C = gates.start { srv = srv, workers = 1,
        settings = ('orgs = "*", timeout = 1, retry = false, base_url = "http://127.0.0.1:%d"'):format(closed) }
      local ok, err = pcall(function()
        assert.equal(503, (get(C, { token = "tok-alice" })))
        local log = assert(nginx.read_file(C.dir .. "/error.log"))
        assert.matches("genesys gate: checking tokens at http://127.0.0.1:" .. closed, log, 1, true)
        assert.matches("no verdict, answering 503", log, 1, true)
        assert.is_nil(log:find("tok-alice", 1, true))
      end)
      gates.stop(C)
      assert(ok, err)
    end)
  end)

  -- Last: what every case above sent.
  it("never writes a token to a log", function()
    assert.is_true(#sent > 20)
    for _, g in ipairs { A, B } do
      local text = (nginx.read_file(g.dir .. "/error.log") or "") .. (nginx.read_file(g.dir .. "/access.log") or "")
      for _, t in ipairs(sent) do
        assert.is_nil(text:find(t, 1, true), "a log holds " .. t:sub(1, 40))
      end
    end
  end)
end)

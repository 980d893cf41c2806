-- revoke_many against the fake: no id lost, none revoked twice, 429s
-- absorbed by pausing the batch, concurrency that really overlaps, and bad
-- ids reported without a request.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

describe("revoke_many", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function client(extra)
    local opts = { base_url = srv.http_url, access_token = "tok-admin", timeout = 5 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  local function count(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
  end

  it("revokes every user once, results in input order, with counts", function()
    local ids = fake.add_users { count = 40, prefix = "b-" }
    local results = assert(client():revoke_many(ids, { concurrency = 8 }))
    assert.equal(40, #results)
    for i, r in ipairs(results) do
      assert.equal(ids[i], r.id)
      assert.is_true(r.ok, tostring(r.err))
      assert.equal(1, r.attempts)
    end
    assert.equal(40, results.succeeded)
    assert.equal(0, results.failed)
    local revocations = fake.revocations()
    assert.equal(40, count(revocations))
    for _, id in ipairs(ids) do assert.equal(1, revocations[id]) end
    assert.is_true(fake.state_token("tok-" .. ids[1]).revoked)
  end)

  it("reports bad ids without a request, and revokes duplicates once", function()
    local ids = fake.add_users { count = 3, prefix = "d-" }
    local input = { ids[1], "me", ids[2], ids[1], "", 42, "..", ids[3], ids[2], "a\0b", "timeout" }
    local results = assert(client():revoke_many(input))
    assert.equal(#input, #results)
    local kinds = {}
    for i, r in ipairs(results) do
      kinds[i] = r.ok and (r.duplicate and "dup-ok" or "ok") or r.err.kind
    end
    assert.same({ "ok", "invalid", "ok", "dup-ok", "invalid", "invalid", "invalid", "ok", "dup-ok",
      "invalid", "invalid" }, kinds)
    assert.matches("another route", results[2].err.message)
    assert.matches("must be a string, got number", results[6].err.message)
    assert.equal(3, results.succeeded)
    assert.equal(6, results.invalid)
    assert.equal(6, results.failed)
    assert.equal(2, results.duplicates)
    local log = fake.log()
    assert.equal(3, #log)
    for _, e in ipairs(log) do assert.matches("^/api/v2/tokens/d%-%d+$", e.request_uri) end
  end)

  it("gives every id exactly one result when some fail", function()
    local ids = fake.add_users { count = 6, prefix = "f-" }
    table.insert(ids, 3, "00000000-0000-4000-8000-000000000000")
    fake.fault { kind = "status", status = 500, times = 1, path = "/api/v2/tokens/f-00005" }
    local results = assert(client():revoke_many(ids, { concurrency = 3 }))
    assert.equal(7, #results)
    assert.equal(5, results.succeeded)
    assert.equal(2, results.failed)
    assert.equal(404, results[3].err.status)
    assert.equal("not.found", results[3].err.code)
    assert.equal(500, results[6].err.status)
  end)

  it("retries transient failures per the client's policy", function()
    local ids = fake.add_users { count = 4, prefix = "t-" }
    fake.fault { kind = "status", status = 503, times = 2, path = "/api/v2/tokens/t-00002" }
    fake.fault { kind = "reset", times = 1, path = "/api/v2/tokens/t-00003" }
    local c = client()
    local results = assert(c:revoke_many(ids))
    assert.equal(4, results.succeeded)
    assert.equal(3, results[2].attempts)
    assert.equal(2, results[3].attempts)
    assert.equal(1, fake.revocations()["t-00002"])
  end)

  it("calls on_progress once per distinct id, counting up to the total", function()
    local ids = fake.add_users { count = 5, prefix = "p-" }
    local input = { ids[1], ids[2], "me", ids[3], ids[1], ids[4], ids[5] }
    local calls = {}
    assert(client():revoke_many(input, { concurrency = 2, on_progress = function(done, total, id, ok, err)
      calls[#calls + 1] = { done = done, total = total, id = id, ok = ok, err = err }
    end }))
    assert.equal(6, #calls)
    local seen = {}
    for i, call in ipairs(calls) do
      assert.equal(i, call.done)
      assert.equal(6, call.total)
      assert.is_nil(seen[call.id])
      seen[call.id] = true
    end
    assert.is_false(calls[1].ok) -- the invalid one is reported first
    assert.equal("invalid", calls[1].err.kind)
  end)

  it("overlaps requests: 16 at once against a 200 ms fake", function()
    local ids = fake.add_users { count = 32, prefix = "c-" }
    fake.configure { latency = 0.2 }
    local results = assert(client():revoke_many(ids, { concurrency = 16 }))
    assert.equal(32, results.succeeded)
    -- The log shows 16 requests in flight at once: each of the first 16
    -- arrived before any of them was answered.
    local log = fake.log()
    table.sort(log, function(a, b) return a.time < b.time end)
    local first_answer = math.huge
    for i = 1, 16 do first_answer = math.min(first_answer, log[i].finished) end
    for i = 1, 16 do assert.is_true(log[i].time < first_answer, "request " .. i .. " waited") end
    -- ...and connections were reused, not opened per request.
    local conns = {}
    for _, e in ipairs(log) do conns[e.connection] = true end
    assert.is_true(count(conns) <= 16)
  end)

  it("paces itself to the rate limit and absorbs 429s by pausing the whole batch", function()
    local ids = fake.add_users { count = 30, prefix = "r-" }
    fake.configure { rate_limit = { count = 10, window = 1 } }
    local results = assert(client():revoke_many(ids, { concurrency = 8 }))
    assert.equal(30, results.succeeded)
    assert.equal(0, results.failed)
    local revocations = fake.revocations()
    for _, id in ipairs(ids) do assert.equal(1, revocations[id], id) end
    -- Never more than 10 accepted in any window: the server enforced it,
    -- and the client waited instead of failing.
    local accepted, limited = 0, 0
    for _, e in ipairs(fake.log()) do
      if e.status == 204 then accepted = accepted + 1 elseif e.status == 429 then limited = limited + 1 end
    end
    assert.equal(30, accepted)
    -- Paced from the inin-ratelimit-* headers, it never hit the wall.
    assert.equal(0, limited)
  end)

  it("absorbs the 429s of a first wave wider than the limit", function()
    local ids = fake.add_users { count = 30, prefix = "v-" }
    fake.configure { rate_limit = { count = 10, window = 1 } }
    local results = assert(client():revoke_many(ids, { concurrency = 16 }))
    assert.equal(30, results.succeeded)
    local limited = 0
    for _, e in ipairs(fake.log()) do if e.status == 429 then limited = limited + 1 end end
    assert.is_true(limited >= 1 and limited <= 6, "429s: " .. limited) -- only the first wave's excess
    for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id]) end
  end)

  it("after a 429, no new request starts until Retry-After has passed", function()
    local ids = fake.add_users { count = 12, prefix = "w-" }
    fake.fault { kind = "429", retry_after = 1, times = 1, path = "/api/v2/tokens/w-00002" }
    local results = assert(client():revoke_many(ids, { concurrency = 1 }))
    assert.equal(12, results.succeeded)
    local log = fake.log()
    local limited_at
    for _, e in ipairs(log) do
      if e.status == 429 then limited_at = e.finished end
      if limited_at and e.status == 204 then assert.is_true(e.time >= limited_at + 0.9) end
    end
    assert.is_number(limited_at)
  end)

  it("uses the per-call token and logs in once for a client-credentials client", function()
    local ids = fake.add_users { count = 5, prefix = "l-" }
    local c = tokens.new { base_url = srv.http_url, client_id = "cc-admin-id", client_secret = "cc-admin-secret" }
    assert.equal(5, assert(c:revoke_many(ids)).succeeded)
    local logins = 0
    for _, e in ipairs(fake.log()) do if e.path == "/oauth/token" then logins = logins + 1 end end
    assert.equal(1, logins)
    local alice = client { access_token = "tok-alice" } -- no oauth:token:delete
    local results = assert(alice:revoke_many({ "l-00001" }, { access_token = "tok-admin" }))
    assert.equal(1, results.succeeded)
  end)

  it("renews a client-credentials token that expires during the run; requests refused with the old one go "
    .. "again with the new", function()
    fake.add_oauth_client { client_id = "short-id", client_secret = "short-secret-0123456789", expires_in = 2 }
    local ids = fake.add_users { count = 24, prefix = "exp-" }
    fake.configure { latency = 0.5 }
    local c = tokens.new { base_url = srv.http_url, client_id = "short-id", client_secret = "short-secret-0123456789" }
    local results = assert(c:revoke_many(ids, { concurrency = 4 })) -- 6 rounds of 0.5 s: 3 s
    local failures = {}
    for _, r in ipairs(results) do if not r.ok then failures[#failures + 1] = r.id .. ": " .. tostring(r.err) end end
    assert.equal(24, results.succeeded, table.concat(failures, "\n"))
    for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id], id) end
    local logins = 0
    for _, e in ipairs(fake.log()) do if e.path == "/oauth/token" then logins = logins + 1 end end
    assert.is_true(logins >= 2, "logins: " .. logins)
  end)

  it("with retry = false, a 429 ends its id at once: one request, counted in attempts", function()
    local ids = fake.add_users { count = 2, prefix = "nr-" }
    fake.fault { kind = "status", status = 429, times = 20, path = "/api/v2/tokens/" .. ids[1] } -- no Retry-After
    local results = assert(client({ retry = false }):revoke_many(ids))
    assert.is_false(results[1].ok)
    assert.equal(429, results[1].err.status)
    assert.equal(1, results[1].attempts)
    assert.is_true(results[2].ok)
    local sent = 0
    for _, e in ipairs(fake.log()) do if e.path == "/api/v2/tokens/" .. ids[1] then sent = sent + 1 end end
    assert.equal(1, sent)
  end)

  it("counts every request an id took in its attempts, the 429s it waited out included", function()
    local ids = fake.add_users { count = 1, prefix = "at-" }
    fake.fault { kind = "429", retry_after = 0, times = 2, path = "/api/v2/tokens/" .. ids[1] }
    local results = assert(client():revoke_many(ids))
    assert.is_true(results[1].ok)
    assert.equal(3, results[1].attempts)
  end)

  it("returns nil, err when there is no credential at all, before any request", function()
    local results, err = tokens.new({ base_url = srv.http_url }):revoke_many { "x-1" }
    assert.is_nil(results)
    assert.equal("auth", err.kind)
    assert.equal(0, #fake.log())
  end)

  it("raises for misuse at the caller", function()
    local c = client()
    local function raised(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err
    end
    assert.matches("^spec/bulk_spec%.lua:%d+: .*user_ids must be a table", raised(function() c:revoke_many("x") end))
    assert.matches("unknown revoke_many option 'parallel'", raised(function() c:revoke_many({}, { parallel = 2 }) end))
    assert.matches("concurrency must be a whole number from 1 to 256",
      raised(function() c:revoke_many({}, { concurrency = 0 }) end))
    assert.matches("concurrency must be", raised(function() c:revoke_many({}, { concurrency = 1.5 }) end))
    assert.matches("on_progress' must be a function", raised(function() c:revoke_many({}, { on_progress = 1 }) end))
    c:close()
    assert.matches("closed client", raised(function() c:revoke_many({}) end))
  end)

  it("stops on an error in on_progress: in-flight requests finish, the error reaches the caller", function()
    local ids = fake.add_users { count = 20, prefix = "e-" }
    local c = client()
    local calls = 0
    local ok, err = pcall(c.revoke_many, c, ids, { concurrency = 4, on_progress = function()
      calls = calls + 1
      if calls == 3 then error("disk full") end
    end })
    assert.is_false(ok)
    assert.matches("on_progress raised: .*disk full", err)
    local revoked = count(fake.revocations())
    assert.is_true(revoked >= 3 and revoked < 20, "revoked " .. revoked)
    assert(c:me(), "the client still works")
  end)

  it("stops when on_progress returns false: in-flight requests finish and are reported, the rest end stopped", function()
    local ids = fake.add_users { count = 20, prefix = "f-" }
    fake.configure { latency = 0.05 }
    local seen, calls = {}, 0
    local results = assert(client():revoke_many(ids, { concurrency = 4, on_progress = function(_, _, id, ok)
      calls = calls + 1
      seen[id] = ok
      if calls == 3 then return false end
    end }))
    local revoked = fake.revocations()
    assert.equal("on_progress returned false", results.stopped)
    assert.is_true(calls >= 3 and calls <= 3 + 4, "calls " .. calls)
    for _, r in ipairs(results) do
      if r.ok then
        assert.is_true(seen[r.id], r.id .. " revoked but never reported")
        assert.equal(1, revoked[r.id])
      else
        assert.equal("stopped", r.err.kind, r.id)
        assert.is_nil(revoked[r.id], r.id .. " was sent after the stop")
      end
    end
    assert.equal(calls, results.succeeded)
    assert.equal(20 - calls, results.failed)
  end)

  it("an empty list is a no-op", function()
    local results = assert(client():revoke_many {})
    assert.equal(0, #results)
    assert.equal(0, results.succeeded)
    assert.equal(0, #fake.log())
  end)
end)

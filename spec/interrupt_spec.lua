-- Ctrl-C in the standalone interpreter: SIGINT during a Retry-After wait,
-- a backoff, a transfer in flight, and revoke_many's transfers and pauses.
-- Each must end within 0.5 s with the interpreter's own "interrupted!",
-- and revoke_many must first report every id that finished (and those
-- abandoned in flight, as not revoked).
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"

local LUA = os.getenv("LUA") or "lua5.4"
local q = nginx.q

describe("SIGINT", function()
  local srv, dir

  lazy_setup(function()
    srv = fake.start()
    dir = nginx.tempdir("interrupt")
  end)
  lazy_teardown(function()
    fake.stop()
    nginx.remove_tempdir(dir)
  end)
  before_each(function() fake.reset() end)

  -- Starts the child, waits until it printed "ready" and `settle` seconds
  -- more, sends SIGINT and measures how long it takes to exit. Returns its
  -- stdout, stderr, exit code and milliseconds from the signal to the exit.
  local function interrupt(args, settle, env)
    local out, err, ms = dir .. "/out", dir .. "/err", dir .. "/ms"
    local script = ("%s LUA_PATH=%s LUA_CPATH=%s %s spec/support/interrupt_child.lua %s >%s 2>%s </dev/null & pid=$!;"
      .. " for i in $(seq 100); do grep -q ready %s 2>/dev/null && break; sleep 0.05; done; sleep %s;"
      .. " t0=$(date +%%s%%N); kill -INT $pid; wait $pid; rc=$?;"
      .. " echo $(( ($(date +%%s%%N) - t0) / 1000000 )) >%s; exit $rc"):format(
      env or "", q(package.path), q(package.cpath), LUA, args, q(out), q(err), q(out), settle, q(ms))
    local _, code = nginx.execute("(" .. script .. ")")
    return nginx.read_file(out) or "", nginx.read_file(err) or "", code, tonumber(nginx.read_file(ms))
  end

  local function assert_interrupted(out, err, code, ms)
    assert.not_equal(0, code, out)
    assert.matches("interrupted!", err)
    assert.is_nil(out:find("returned", 1, true), "the call returned instead: " .. out)
    assert.is_true(ms < 500, ("exited %d ms after SIGINT"):format(ms))
  end

  it("during a Retry-After wait of 20 s", function()
    fake.fault { kind = "429", retry_after = 20 }
    assert_interrupted(interrupt("call " .. srv.http_url, 0.3))
  end)

  it("during an exponential backoff of seconds", function()
    fake.fault { kind = "status", status = 503, times = 3 }
    assert_interrupted(interrupt("call " .. srv.http_url, 0.3, "RETRY_BASE_DELAY=16"))
  end)

  it("during a transfer that waits 20 s for its answer", function()
    fake.fault { kind = "delay", seconds = 20 }
    assert_interrupted(interrupt("call " .. srv.http_url, 0.3))
  end)

  it("during a transfer whose body trickles", function()
    fake.fault { kind = "trickle", interval = 0.5, bytes = 200 }
    assert_interrupted(interrupt("call " .. srv.http_url, 0.6))
  end)

  it("during revoke_many's transfers: what finished and what was abandoned are reported first", function()
    local ids = fake.add_users { count = 40, prefix = "sigint-" }
    fake.configure { latency = 0.3 }
    local out, err, code, ms = interrupt("bulk " .. srv.http_url .. " " .. table.concat(ids, " "), 1)
    assert_interrupted(out, err, code, ms)
    local revoked, finished, abandoned = fake.revocations(), 0, 0
    for id, ok, kind in out:gmatch("done (%S+) (%S+) (%S+)") do
      if ok == "true" then
        assert.equal(1, revoked[id], id)
        finished = finished + 1
      else
        assert.equal("interrupted", kind)
        abandoned = abandoned + 1
      end
    end
    assert.is_true(finished >= 2, out)
    assert.is_true(abandoned >= 1 and abandoned <= 2, out)
    local n = 0
    for _ in pairs(revoked) do n = n + 1 end
    assert.equal(finished, n, "a revocation nobody was told of")
  end)

  it("while the client's logger runs (its error is not swallowed with the logger's)", function()
    fake.fault { kind = "status", status = 503, times = 3 }
    assert_interrupted(interrupt("call " .. srv.http_url, 0.3, "BUSY_LOGGER=5 RETRY_BASE_DELAY=0.01"))
  end)

  it("while on_progress runs: revoke_many stops at once, what was in flight abandoned", function()
    local ids = fake.add_users { count = 10, prefix = "sigprog-" }
    fake.configure { latency = 0.2 }
    local out, err, code, ms = interrupt("bulk " .. srv.http_url .. " " .. table.concat(ids, " "), 0.6, "BUSY_PROGRESS=5")
    assert_interrupted(out, err, code, ms)
    assert.matches("done %S+ true", out)
  end)

  it("during revoke_many's pause for a 429's Retry-After of 20 s", function()
    local ids = fake.add_users { count = 5, prefix = "sigpause-" }
    fake.fault { kind = "429", retry_after = 20 }
    assert_interrupted(interrupt("bulk " .. srv.http_url .. " " .. table.concat(ids, " "), 0.5))
  end)
end)

-- Section 3: OpenResty. examples/nginx-gate/nginx.conf run as
-- spec/nginx_gate_spec.lua runs it (the example's own file with only its
-- ports, paths and worker count replaced), checking tokens against the
-- fake Genesys Cloud, in front of a small upstream in the same nginx; plus
-- a "plain" server: the example's server block without the access_by_lua
-- gate, proxying to the same upstream. wrk (2 threads, 32 connections,
-- 5 s, 5 rounds (3 with BENCH_QUICK=1) in rotating order) measures
-- requests per second:
--   plain proxy | gate, warm cache (one token, cache hits) |
--   gate, cold cache (a token no request has carried: fake.add_users).
-- The gate's overhead is the median over the rounds of plain rps / gate
-- rps - 1 within a round: on a small VM the machine's speed drifts by
-- +-10% over a minute, and pairing the runs of a round cancels most of
-- that. When perf works, one more warm run is sampled with perf, and the
-- share of the nginx worker's CPU spent in LuaJIT and the Lua module (the
-- gate's own code) is reported: a figure the drift does not move.
-- Then 100 concurrent requests, each with its own uncached token, through
-- the gate against a fake answering after 200 ms: the wall time.
local common = require "spec.bench.common"
local nginx = require "spec.support.nginx"
local socket = require "socket"

local M = {}

local q = common.q
local ROOT = nginx.dir_of_caller():gsub("/spec/bench$", "")

local THREADS, CONNECTIONS = 2, 32
local PREFIX = "gate-"

local function env_number(name, default)
  return tonumber(os.getenv(name) or "") or default
end

local function replace(text, old, new)
  return nginx.replace_all(text, old, new, "examples/nginx-gate/nginx.conf")
end

-- The text of the block that opens at `from` (at its "{"), braces matched.
local function block_at(text, from)
  local depth, i = 0, from
  while i <= #text do
    local c = text:sub(i, i)
    if c == "{" then depth = depth + 1
    elseif c == "}" then
      depth = depth - 1
      if depth == 0 then return text:sub(from, i) end
    end
    i = i + 1
  end
  error("unbalanced braces in examples/nginx-gate/nginx.conf")
end

local temp_paths = nginx.temp_paths

-- The upstream (a fixed small answer, no access log) and a way to empty
-- the gate's cache between rounds.
local UPSTREAM = [[
    server {
        listen 127.0.0.1:%d;
        access_log off;
        location / {
            default_type text/plain;
            return 200 'upstream ok';
        }
        location = /_bench/flush {
            content_by_lua_block { ngx.shared.genesys_gate:flush_all() ngx.print("flushed") }
        }
    }
]]

local function gate_conf(dir, ports, ca_file, workers)
  local gate_port, upstream_port, plain_port = ports[1], ports[2], ports[3]
  local conf = assert(common.read_file(ROOT .. "/examples/nginx-gate/nginx.conf"))
  for _, r in ipairs {
    { "127.0.0.1:8080", "127.0.0.1:" .. gate_port },
    { "127.0.0.1:8081", "127.0.0.1:" .. upstream_port },
    { "/usr/local/share/lua/5.1", ROOT .. "/lua" },
    { "/usr/local/lib/lua/5.1", ROOT .. "/build/luajit" },
    { "/etc/nginx/genesys-gate", ROOT .. "/examples/nginx-gate" },
    { "/etc/ssl/certs/ca-certificates.crt", ca_file },
    { "/run/nginx-genesys-gate.pid", dir .. "/nginx.pid" },
    { "/var/log/nginx/genesys-gate.error.log", dir .. "/error.log" },
    { "/var/log/nginx/genesys-gate.access.log", dir .. "/access.log" },
    { "worker_processes auto;", "worker_processes " .. workers .. ";" },
    { "http {", "http {\n" .. temp_paths(dir) },
  } do
    conf = replace(conf, r[1], r[2])
  end
  -- The example's one server block, without its gate, on its own port.
  local at = assert(conf:find("\n    server {", 1, true), "no server block in the example")
  local server = block_at(conf, conf:find("{", at, true))
  local plain = replace(server, "listen 127.0.0.1:" .. gate_port .. ";", "listen 127.0.0.1:" .. plain_port .. ";")
  plain = replace(plain, 'access_by_lua_block { require("gate").check() }',
    "# (no access_by_lua: the plain proxy the gate is compared with)")
  local last = assert(conf:find("}%s*$"), "nginx.conf does not end with the http block's }")
  return conf:sub(1, last - 1) .. "\n    server " .. plain .. "\n" .. UPSTREAM:format(upstream_port) .. "}\n"
end

local function start_gate(srv, workers)
  local dir = nginx.tempdir("benchgate")
  local ok, pid, ports = pcall(nginx.start, {
    dir = dir, nports = 3,
    env = { GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_REGION = "" },
    render = function(p) return nginx.user_line() .. "\n" .. gate_conf(dir, p, srv.ca_file, workers) end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/" end,
    ready = function(status) return status == 401 end, -- no token: refused
  })
  if not ok then
    nginx.remove_tempdir(dir)
    error(pid, 2)
  end
  return { pid = pid, dir = dir, url = "http://127.0.0.1:" .. ports[1],
    upstream_url = "http://127.0.0.1:" .. ports[2], plain_url = "http://127.0.0.1:" .. ports[3] }
end

-- One wrk run: requests/s, non-2xx count, socket errors, wrapped count.
local function wrk(url, seconds, extra, args)
  local cmd = ((os.getenv("BENCH_WRK_PREFIX") or "")
    .. "wrk -t%d -c%d -d%ds --timeout 10s %s %s %s 2>&1"):format(THREADS, CONNECTIONS, seconds,
    extra, q(url .. "/"), args and ("-- " .. args) or "")
  local out, good = common.run("timeout " .. (seconds + 30) .. " " .. cmd)
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  if not good or not rps then error("wrk failed: " .. cmd .. "\n" .. out) end
  local errors = 0
  for n in (out:match("Socket errors:([^\n]*)") or ""):gmatch("%d+") do errors = errors + tonumber(n) end
  return {
    rps = rps,
    non2xx = tonumber(out:match("Non%-2xx or 3xx responses:%s*(%d+)")) or 0,
    errors = errors,
    wrapped = tonumber(out:match("WRAPPED (%d+)")) or 0,
    requests = tonumber(out:match("(%d+) requests in")) or 0,
  }
end

-- n requests at once, each with its own token, one connection each
-- (Connection: close); wall time from the first send to the last answer,
-- and the statuses. Bounded by `limit` seconds.
local function burst(port, tokens, limit)
  local conns = {}
  local t0 = socket.gettime()
  for i, tok in ipairs(tokens) do
    local c = assert(socket.tcp())
    c:settimeout(5)
    assert(c:connect("127.0.0.1", port))
    assert(c:send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " .. tok
      .. "\r\nConnection: close\r\n\r\n"))
    c:settimeout(0)
    conns[i] = { sock = c, parts = {} }
  end
  local open, deadline = #conns, t0 + limit
  while open > 0 and socket.gettime() < deadline do
    local socks = {}
    for _, c in ipairs(conns) do if not c.done then socks[#socks + 1] = c.sock end end
    local readable = socket.select(socks, nil, 0.5)
    for _, s in ipairs(readable) do
      for _, c in ipairs(conns) do
        if c.sock == s and not c.done then
          local data, err, partial = s:receive(65536)
          local got = data or partial
          if got and #got > 0 then c.parts[#c.parts + 1] = got end
          if err == "closed" then
            c.done, c.t = true, socket.gettime()
            open = open - 1
          end
        end
      end
    end
  end
  local wall, statuses = 0, {}
  for _, c in ipairs(conns) do
    c.sock:close()
    local status = c.done and (table.concat(c.parts):match("^HTTP/1%.%d (%d+)")) or "unfinished"
    statuses[status] = (statuses[status] or 0) + 1
    if c.t and c.t - t0 > wall then wall = c.t - t0 end
  end
  return wall, statuses
end

-- For experiments and profiling.
M.start_gate, M.wrk, M.burst = start_gate, wrk, burst

-- The share (%) of the nginx worker's CPU samples spent in LuaJIT, the Lua
-- module and JIT-compiled code during a 5 s warm run and a plain one;
-- nil when perf is missing or refuses.
function M.perf_share(gate, header)
  if not common.execute("command -v perf >/dev/null 2>&1") then return nil end
  local pids = {}
  for p in common.capture("pgrep -P " .. gate.pid):gmatch("%d+") do pids[#pids + 1] = p end
  local out = {}
  for _, case in ipairs { { name = "plain", url = gate.plain_url }, { name = "warm", url = gate.url } } do
    local data = gate.dir .. "/perf." .. case.name
    local cmd = ("(perf record -q -F 1999 -p %s -o %s -- sleep 4 >/dev/null 2>&1 &) ; sleep 0.5; "
      .. "wrk -t%d -c%d -d5s %s %s >/dev/null 2>&1; sleep 0.5")
      :format(table.concat(pids, ","), q(data), THREADS, CONNECTIONS, header, q(case.url .. "/"))
    common.execute(cmd)
    local report = common.run("perf report -i " .. q(data) .. " --no-children --sort dso --stdio 2>/dev/null")
    local total, lua = 0, 0
    for pct, dso in report:gmatch("\n%s*([%d%.]+)%%%s+([^\n]+)") do
      total = total + tonumber(pct)
      if dso:find("luajit", 1, true) or dso:find("lua_module", 1, true) or dso:find("JIT", 1, true) then
        lua = lua + tonumber(pct)
      end
    end
    if total < 50 then return nil end -- no samples: perf did not work here
    out[case.name] = lua
  end
  return out
end

function M.run()
  local fake = require "spec.support.fake"
  local seconds = env_number("BENCH_GATE_SECONDS", 5)
  local rounds = env_number("BENCH_GATE_ROUNDS", common.QUICK and 3 or 5)
  local workers = os.getenv("BENCH_GATE_WORKERS") or "1"
  local count = env_number("BENCH_GATE_TOKENS", 40000)
  assert(seconds >= 1 and seconds <= 60 and rounds >= 1 and rounds <= 20 and count >= 200 and count <= 50000)

  assert(common.execute("make -s LUA_VERSION=luajit >/dev/null"), "make LUA_VERSION=luajit failed")
  local srv = fake.start()
  local gate
  local ok, err = pcall(function()
    fake.configure { log = false, rate_limit = { count = 100000000, window = 60, enforced = false } }
    common.note("openresty: adding %d users (tokens) to the fake", count)
    local _, tokens = fake.add_users { count = count, prefix = PREFIX }
    gate = start_gate(srv, workers)
    local function flush()
      local status = nginx.request(gate.upstream_url .. "/_bench/flush", "GET")
      assert(status == 200, "could not flush the gate's cache")
      -- Fresh rate-limit windows in the fake, so its dict does not fill up.
      fake.configure { rate_limit = { count = 100000000, window = 60, enforced = false } }
    end
    local warm_header = "-H " .. q("Authorization: Bearer tok-admin")
    local cases = {
      { key = "plain", name = "plain proxy (no gate)", url = gate.plain_url, extra = warm_header },
      { key = "warm", name = "gate, warm cache", url = gate.url, extra = warm_header },
      { key = "cold", name = "gate, cold cache", url = gate.url, before = flush,
        extra = "-s " .. q(ROOT .. "/spec/bench/wrk_tokens.lua"), args = PREFIX .. " " .. count .. " " .. THREADS },
    }
    -- The warm token's verdict is cached; every path is exercised once.
    local status = nginx.request(gate.url .. "/", "GET", nil, 10, { authorization = "Bearer tok-admin" })
    assert(status == 200, "the gate refused the warm token: " .. tostring(status))
    for _, c in ipairs(cases) do
      if c.before then c.before() end
      wrk(c.url, 1, c.extra, c.args) -- warm-up, not counted
    end

    local rps, notes, by_round = {}, {}, {}
    for _, c in ipairs(cases) do rps[c.key], notes[c.key] = {}, {} end
    for round = 1, rounds do
      for i = 0, #cases - 1 do
        local c = cases[(round - 1 + i) % #cases + 1]
        if c.before then c.before() end
        local r = wrk(c.url, seconds, c.extra, c.args)
        if r.non2xx > 0 or r.errors > 0 then
          notes[c.key][#notes[c.key] + 1] = ("round %d: %d non-2xx, %d socket errors"):format(round, r.non2xx, r.errors)
        end
        if r.wrapped > 0 then
          notes[c.key][#notes[c.key] + 1] = ("round %d: %d requests reused a token"):format(round, r.wrapped)
        end
        rps[c.key][#rps[c.key] + 1] = r.rps
        by_round[round] = by_round[round] or {}
        by_round[round][c.key] = r.rps
        common.note("openresty round %d/%d: %-24s %8.0f requests/s (%d requests, %d non-2xx)",
          round, rounds, c.name, r.rps, r.requests, r.non2xx)
      end
    end

    local base_note = ("wrk -t%d -c%d %ds x %d rounds, %s nginx worker(s)"):format(THREADS, CONNECTIONS,
      seconds, rounds, workers)
    local function note(key)
      return #notes[key] > 0 and table.concat(notes[key], "; ") or base_note
    end
    common.add { section = "3 openresty", case = "plain proxy (no gate)", metric = "requests/s", unit = "",
      samples = rps.plain, note = note("plain") }
    for _, key in ipairs { "warm", "cold" } do
      local paired, shown, relative = {}, {}, {}
      for round = 1, rounds do
        paired[round] = (by_round[round].plain / by_round[round][key] - 1) * 100
        relative[round] = by_round[round][key] / by_round[round].plain
        shown[round] = ("%.1f"):format(paired[round])
      end
      local overhead = common.median(paired)
      local name = key == "warm" and "gate, warm cache" or "gate, cold cache"
      common.add { section = "3 openresty", case = name, metric = "requests/s", unit = "",
        samples = rps[key], peer = "plain proxy", ratio = common.median(relative),
        note = note(key) .. "; ratio: gate/plain paired by round" }
      common.add { section = "3 openresty", case = name, metric = "overhead", unit = "%",
        median = overhead, min = common.min(paired), max = common.max(paired), n = rounds, peer = "plain proxy",
        target = key == "warm" and "< 10%" or nil, met = (key == "warm" or nil) and overhead < 10,
        note = "plain/gate rps - 1 per round: " .. table.concat(shown, " ") }
    end
    local share = M.perf_share(gate, warm_header)
    if share then
      common.add { section = "3 openresty", case = "gate, warm cache", metric = "Lua share of worker CPU",
        unit = "%", median = share.warm, n = 1, peer = ("plain proxy %.1f%%"):format(share.plain),
        note = "perf samples of the nginx worker in LuaJIT, the Lua module and JIT code" }
    end

    -- 100 concurrent validations against a 200 ms Genesys Cloud.
    local n, latency = 100, 0.2
    local walls, bad = {}, {}
    fake.configure { latency = latency }
    for round = 1, rounds do
      flush()
      fake.configure { latency = latency }
      local list = {}
      for i = 1, n do list[i] = tokens[(round - 1) * n + i] end
      local wall, statuses = burst(tonumber(gate.url:match(":(%d+)$")), list, 30)
      walls[#walls + 1] = wall
      for s, k in pairs(statuses) do
        if s ~= "200" then bad[#bad + 1] = ("round %d: %d x %s"):format(round, k, s) end
      end
      common.note("openresty burst round %d/%d: %d requests in %.3f s", round, rounds, n, wall)
    end
    fake.configure { latency = 0 }
    local wall = common.median(walls)
    common.add { section = "3 openresty", case = ("%d concurrent cold validations, 200 ms upstream"):format(n),
      metric = "wall time", unit = "s", samples = walls, peer = "ideal 0.20 s", ratio = wall / latency,
      note = #bad > 0 and table.concat(bad, "; ") or "all 200" }
  end)
  if gate then
    nginx.stop(gate.pid)
    nginx.remove_tempdir(gate.dir)
  end
  fake.stop()
  if not ok then error(err, 0) end
end

return M

-- Section 3: OpenResty. examples/nginx-gate/nginx.conf (the
-- genesys.tokens.gate module set up for the fake's Acme org) run as
-- spec/nginx_gate_spec.lua runs it: the example's own file with only its
-- ports, paths, worker count and connection limits replaced, and
-- max_pending raised (see MAX_PENDING), checking tokens against the fake
-- Genesys Cloud, in front of a small upstream in the same nginx; plus a
-- "plain" server: the example's server block without the access_by_lua
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
-- gate's own code) is reported. And when valgrind is there, another
-- nginx (one process, under callgrind) counts the user-space instructions
-- per request of the plain proxy, an empty access_by_lua handler and the
-- warm gate (M.callgrind; BENCH_GATE_CALLGRIND rounds, 2, 0 skips):
-- figures the drift does not move.
-- Then, against a fake answering after 200 ms:
--   cold validations/s: BENCH_GATE_BURST (500) concurrent requests, each
--     with its own uncached token: n / wall time, beside n / 0.2 s;
--   the herd: 1,000 concurrent requests carrying one token the gate has
--     never seen, on a gate with 2 workers: how many Genesys Cloud calls
--     it made for that token (goal 1) and the wall time.
local common = require "spec.bench.common"
local nginx = require "spec.support.nginx"

local M = {}

local q = common.q
local ROOT = nginx.dir_of_caller():gsub("/spec/bench$", "")

local THREADS, CONNECTIONS = 2, 32
local PREFIX = "gate-"
local LATENCY = 0.2        -- seconds the fake takes to answer in the burst and herd cases
local HERD, HERD_WORKERS = 1000, 2
-- The example's default (64 cold validations in flight per worker, beyond
-- that 503) would shed most of the cold burst: raised past its size, so
-- the figure is the gate's own rate, not the cap's.
local MAX_PENDING = 1000
-- 1,000 connections at once: a client, its proxied request and the
-- upstream's end may all land in one worker (the example has 1024).
local WORKER_CONNECTIONS, RLIMIT_NOFILE = 4096, 10000
-- nginx's default listen backlog (511) overflows in the herd: the clients'
-- connects, then the 1,000 proxied ones at once, and each dropped SYN
-- costs a 1 s retransmit. (Linux caps it at net.core.somaxconn.)
local BACKLOG = 4096

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
        listen 127.0.0.1:%d backlog=%d;
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

-- ports: the gate, the upstream, the plain proxy and, when there is a
-- 4th, a server with an empty access_by_lua handler (for M.callgrind).
local function gate_conf(dir, ports, ca_file, workers)
  local gate_port, upstream_port, plain_port, empty_port = ports[1], ports[2], ports[3], ports[4]
  local conf = assert(common.read_file(ROOT .. "/examples/nginx-gate/nginx.conf"))
  for _, r in ipairs {
    { "127.0.0.1:8080", "127.0.0.1:" .. gate_port },
    { "127.0.0.1:8081", "127.0.0.1:" .. upstream_port },
    { "/usr/local/share/lua/5.1", ROOT .. "/lua" },
    { "/usr/local/lib/lua/5.1", ROOT .. "/build/luajit" },
    { "/etc/ssl/certs/ca-certificates.crt", ca_file },
    { "/run/nginx-genesys-gate.pid", dir .. "/nginx.pid" },
    { "/var/log/nginx/genesys-gate.error.log", dir .. "/error.log" },
    { "/var/log/nginx/genesys-gate.access.log", dir .. "/access.log" },
    { "worker_processes auto;",
      "worker_processes " .. workers .. ";\nworker_rlimit_nofile " .. RLIMIT_NOFILE .. ";" },
    { "worker_connections 1024;", "worker_connections " .. WORKER_CONNECTIONS .. ";" },
    { 'require("genesys.tokens.gate").setup {', 'require("genesys.tokens.gate").setup {\n'
      .. '            max_pending = ' .. MAX_PENDING .. ', -- raised by spec/bench/gate_section.lua' },
    { "http {", "http {\n" .. temp_paths(dir) },
  } do
    conf = replace(conf, r[1], r[2])
  end
  -- The example's one server block, without its gate, on its own port.
  local at = assert(conf:find("\n    server {", 1, true), "no server block in the example")
  local server = block_at(conf, conf:find("{", at, true))
  local plain = replace(server, "listen 127.0.0.1:" .. gate_port .. ";",
    "listen 127.0.0.1:" .. plain_port .. " backlog=" .. BACKLOG .. ";")
  local empty = ""
  if empty_port then
    -- The floor of any Lua access handler: entering the Lua VM per request.
    empty = replace(server, "listen 127.0.0.1:" .. gate_port .. ";",
      "listen 127.0.0.1:" .. empty_port .. " backlog=" .. BACKLOG .. ";")
    empty = "\n    server " .. replace(empty, 'access_by_lua_block { require("genesys.tokens.gate").check() }',
      "access_by_lua_block { local x = 1 } # an empty handler, not the gate") .. "\n"
  end
  plain = replace(plain, 'access_by_lua_block { require("genesys.tokens.gate").check() }',
    "# (no access_by_lua: the plain proxy the gate is compared with)")
  conf = replace(conf, "listen 127.0.0.1:" .. gate_port .. ";",
    "listen 127.0.0.1:" .. gate_port .. " backlog=" .. BACKLOG .. ";")
  local last = assert(conf:find("}%s*$"), "nginx.conf does not end with the http block's }")
  return conf:sub(1, last - 1) .. "\n    server " .. plain .. "\n" .. empty
    .. UPSTREAM:format(upstream_port, BACKLOG) .. "}\n"
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

-- One wrk run: requests/s, non-2xx count, socket errors, wrapped count;
-- `tc` = { threads, connections } when not THREADS, CONNECTIONS.
local function wrk(url, seconds, extra, args, tc)
  local cmd = ((os.getenv("BENCH_WRK_PREFIX") or "")
    .. "wrk -t%d -c%d -d%ds --timeout 10s %s %s %s 2>&1"):format(tc and tc[1] or THREADS,
    tc and tc[2] or CONNECTIONS, seconds,
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

-- n requests at once (nginx.burst: one connection each), the i-th with
-- token_of(i): the wall time and the statuses counted ("unfinished" when
-- no whole answer came within `limit` seconds).
local function burst(url, n, token_of, limit)
  local heads = {}
  for i = 1, n do
    heads[i] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " .. token_of(i)
      .. "\r\nConnection: close\r\n\r\n"
  end
  local answers, wall = nginx.burst(tonumber(url:match(":(%d+)$")), heads, limit)
  local statuses = {}
  for i = 1, n do
    local status = answers[i] and answers[i]:match("^HTTP/1%.%d (%d+)") or "unfinished"
    statuses[status] = (statuses[status] or 0) + 1
  end
  return wall, statuses
end

-- "round r: k x status" for every status but 200 into `bad`.
local function note_statuses(bad, round, statuses)
  for s, k in pairs(statuses) do
    if s ~= "200" then bad[#bad + 1] = ("round %d: %d x %s"):format(round, k, s) end
  end
end

-- How many GET /api/v2/tokens/me the fake logged with this token.
local function calls_for(fake, token)
  local want, n = "Bearer " .. token, 0
  for _, e in ipairs(fake.log()) do
    local auth = e.headers and e.headers.authorization
    if type(auth) == "table" then auth = auth[1] end
    if e.method == "GET" and e.path == "/api/v2/tokens/me" and auth == want then n = n + 1 end
  end
  return n
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

-- Instructions per request: the example's servers plus an empty-handler
-- one in a single nginx process (master_process off: the process valgrind
-- runs is the one serving) under callgrind, instrumented only once up.
-- Per case: a 1 s warm-up, the counters zeroed, wrk -t1 -c1 for
-- CALLGRIND_SECONDS, a dump: its total over wrk's request count. Rounds
-- in rotating order; medians. Returns { plain = {...}, empty = {...},
-- warm = {...} } (one figure a round) and notes, or nil and why not.
local CALLGRIND_SECONDS = 3
local CALLGRIND_READY = 30   -- seconds nginx may take to answer under valgrind (~6 s here)
local CALLGRIND_DUMP = 10    -- seconds a dump may take to appear

local function proc_running(pid)
  local stat = common.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

-- The highest N of dir/callgrind.out.N (0 when there is none).
local function last_dump(dir)
  local n = 0
  for name in common.capture("ls " .. q(dir) .. " 2>/dev/null"):gmatch("[^\n]+") do
    local k = tonumber(name:match("^callgrind%.out%.(%d+)$"))
    if k and k > n then n = k end
  end
  return n
end

function M.callgrind(srv, rounds, header)
  for _, tool in ipairs { "valgrind", "callgrind_control" } do
    if not common.execute("command -v " .. tool .. " >/dev/null 2>&1") then
      return nil, tool .. " not installed"
    end
  end
  local socket = require "socket"
  local dir = nginx.tempdir("benchcallgrind")
  local pid
  local ok, res, notes = pcall(function()
    local ports = nginx.free_ports(4)
    -- -g cannot set daemon/master_process a second time, so they are in the text.
    nginx.write_file(dir .. "/nginx.conf", "daemon off;\nmaster_process off;\n"
      .. gate_conf(dir, ports, srv.ca_file, 1))
    local cmd = ("GENESYSCLOUD_BASE_URL=%s GENESYSCLOUD_REGION='' valgrind --tool=callgrind "
      .. "--instr-atstart=no --callgrind-out-file=%s %s -p %s -c %s >%s 2>&1 </dev/null & echo $!")
      :format(q(srv.http_url), q(dir .. "/callgrind.out"), q(nginx.NGINX), q(dir .. "/"),
        q(dir .. "/nginx.conf"), q(dir .. "/nginx.out"))
    pid = tonumber((common.capture(cmd):match("%d+")))
    assert(pid, "could not spawn valgrind")
    local base = "http://127.0.0.1:"
    local up, deadline = false, socket.gettime() + CALLGRIND_READY
    while not up and socket.gettime() < deadline and proc_running(pid) do
      up = nginx.request(base .. ports[1] .. "/", "GET", nil, 2) == 401 -- no token: refused
      if not up then socket.sleep(0.2) end
    end
    if not up then
      error("nginx under valgrind exited or did not answer within " .. CALLGRIND_READY .. " s:\n"
        .. (common.read_file(dir .. "/nginx.out") or "") .. (common.read_file(dir .. "/error.log") or ""), 0)
    end
    local function control(flag)
      local out, good = common.run(("timeout 20 callgrind_control %s %d 2>&1"):format(flag, pid))
      if not good then error("callgrind_control " .. flag .. " failed:\n" .. out) end
    end
    control("-i on")
    -- Fills the gate's cache with the warm token (a call to the fake).
    local status = nginx.request(base .. ports[1] .. "/", "GET", nil, 30, { authorization = "Bearer tok-admin" })
    assert(status == 200, "the gate under valgrind refused the warm token: " .. tostring(status))
    local cases = {
      { key = "plain", url = base .. ports[3] },
      { key = "empty", url = base .. ports[4] },
      { key = "warm", url = base .. ports[1] },
    }
    local per, notes = { plain = {}, empty = {}, warm = {} }, {}
    for round = 1, rounds do
      for i = 0, #cases - 1 do
        local c = cases[(round - 1 + i) % #cases + 1]
        wrk(c.url, 1, header, nil, { 1, 1 }) -- warm-up, not counted
        local before = last_dump(dir)
        control("-z")
        local r = wrk(c.url, CALLGRIND_SECONDS, header, nil, { 1, 1 })
        control("-d")
        -- The dump is complete once its last line, totals:, is written.
        local total, until_ = nil, socket.gettime() + CALLGRIND_DUMP
        repeat
          local n = last_dump(dir)
          local text = n > before and common.read_file(("%s/callgrind.out.%d"):format(dir, n)) or ""
          if text:find("\ntotals:") then total = tonumber(text:match("\nsummary:%s*(%d+)")) end
          if not total then socket.sleep(0.1) end
        until total or socket.gettime() > until_
        assert(total and r.requests > 0, "no callgrind dump or no requests for " .. c.key)
        if r.non2xx > 0 or r.errors > 0 then
          notes[#notes + 1] = ("%s round %d: %d non-2xx, %d socket errors"):format(c.key, round, r.non2xx, r.errors)
        end
        per[c.key][round] = total / r.requests
        common.note("openresty callgrind round %d/%d: %-5s %6d requests, %.0f instructions/request",
          round, rounds, c.key, r.requests, total / r.requests)
      end
    end
    return per, notes
  end)
  if pid then nginx.stop(pid) end -- SIGTERM, a bounded wait, then SIGKILL
  nginx.remove_tempdir(dir)
  if not ok then return nil, (tostring(res):match("[^\n]*")), tostring(res) end
  return res, notes
end

function M.run()
  local fake = require "spec.support.fake"
  local seconds = env_number("BENCH_GATE_SECONDS", 5)
  local rounds = env_number("BENCH_GATE_ROUNDS", common.QUICK and 3 or 5)
  local workers = os.getenv("BENCH_GATE_WORKERS") or "1"
  local count = env_number("BENCH_GATE_TOKENS", 40000)
  -- At most 1,000: nginx.burst's socket.select takes fds below FD_SETSIZE
  -- (1024); and above 511 the fake's listen backlog may overflow.
  local n = env_number("BENCH_GATE_BURST", 500)
  assert(seconds >= 1 and seconds <= 60 and rounds >= 1 and rounds <= 20 and count >= 200 and count <= 50000)
  assert(n >= 1 and n <= math.min(count, HERD, MAX_PENDING), "BENCH_GATE_BURST must be 1..1000 and <= BENCH_GATE_TOKENS")

  assert(common.execute("make -s LUA_VERSION=luajit >/dev/null"), "make LUA_VERSION=luajit failed")
  local srv = fake.start()
  local gate, herd_gate
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
        target = key == "warm" and "<= 3%" or nil, met = (key == "warm" or nil) and overhead <= 3,
        note = "plain/gate rps - 1 per round: " .. table.concat(shown, " ") }
    end
    local share = M.perf_share(gate, warm_header)
    if share then
      common.add { section = "3 openresty", case = "gate, warm cache", metric = "Lua share of worker CPU",
        unit = "%", median = share.warm, n = 1, peer = ("plain proxy %.1f%%"):format(share.plain),
        note = "perf samples of the nginx worker in LuaJIT, the Lua module and JIT code" }
    end

    -- Instructions per request (callgrind): the machine's drift does not
    -- move them, but they leave the kernel out.
    local cg_rounds = env_number("BENCH_GATE_CALLGRIND", 2)
    if cg_rounds >= 1 then
      local per, why, detail = M.callgrind(srv, math.min(cg_rounds, 5), warm_header)
      local section, metric = "3 openresty", "instructions/request"
      if not per then
        if detail then io.stderr:write("bench: openresty callgrind failed:\n", detail, "\n") end
        common.add { section = section, case = "gate, warm cache", metric = metric,
          note = (detail and "callgrind failed: " or "skipped: ") .. why }
      else
        local base_cg = ("valgrind callgrind, one nginx process, wrk -t1 -c1 %d s x %d rounds")
          :format(CALLGRIND_SECONDS, #per.plain)
        local extra = #why > 0 and ("; " .. table.concat(why, "; ")) or ""
        -- Ratios paired by round, like the rps ones (run.lua's footer says so).
        local function ratio(key)
          local r = {}
          for round = 1, #per.plain do r[round] = per[key][round] / per.plain[round] end
          return common.median(r)
        end
        common.add { section = section, case = "plain proxy (no gate)", metric = metric, unit = "",
          samples = per.plain, note = base_cg .. extra }
        common.add { section = section, case = "empty access_by_lua handler", metric = metric, unit = "",
          samples = per.empty, peer = "plain proxy", ratio = ratio("empty"),
          note = "access_by_lua_block { local x = 1 }: the floor of any Lua access handler" }
        common.add { section = section, case = "gate, warm cache", metric = metric, unit = "",
          samples = per.warm, peer = "plain proxy", ratio = ratio("warm"),
          note = ("gate - empty handler: %.0f instructions/request"):format(
            common.median(per.warm) - common.median(per.empty)) }
        local paired, shown = {}, {}
        for round = 1, #per.plain do
          paired[round] = (per.warm[round] / per.plain[round] - 1) * 100
          shown[round] = ("%.1f"):format(paired[round])
        end
        common.add { section = section, case = "gate, warm cache", metric = "instruction overhead", unit = "%",
          samples = paired, peer = "plain proxy",
          note = "gate/plain instructions - 1 per round: " .. table.concat(shown, " ")
            .. "; user-space instructions only: the kernel's share of a proxied request (~90% of its"
            .. " CPU samples under perf) is not counted, so the rps overhead is far smaller" }
      end
    end

    -- Cold validations/s: n concurrent requests, each with its own
    -- uncached token, against a 200 ms Genesys Cloud.
    local walls, rates, bad = {}, {}, {}
    for round = 1, rounds do
      flush()
      fake.configure { latency = LATENCY }
      local wall, statuses = burst(gate.url, n, function(i) return tokens[((round - 1) * n + i - 1) % count + 1] end, 30)
      walls[#walls + 1], rates[#rates + 1] = wall, n / wall
      note_statuses(bad, round, statuses)
      common.note("openresty burst round %d/%d: %d cold validations in %.3f s (%.0f/s, %d x 200)",
        round, rounds, n, wall, n / wall, statuses["200"] or 0)
    end
    fake.configure { latency = 0 }
    local ideal = n / LATENCY
    common.add { section = "3 openresty", case = ("%d concurrent cold validations, 200 ms upstream"):format(n),
      metric = "validations/s", unit = "", samples = rates, peer = ("ideal %.0f/s (n / 0.2 s)"):format(ideal),
      ratio = common.median(rates) / ideal,
      note = ("n / wall (median %.3f s), %s worker(s), max_pending %d (example's: 64); %s")
        :format(common.median(walls), workers, MAX_PENDING, #bad > 0 and table.concat(bad, "; ") or "all 200") }
    nginx.stop(gate.pid)
    nginx.remove_tempdir(gate.dir)
    gate = nil

    -- The herd: HERD concurrent requests with one token the gate has never
    -- seen, on 2 workers, against a 200 ms Genesys Cloud: one call should
    -- answer them all. The fake's log (off for the wrk runs) counts them;
    -- each round's token is new, so no flush is needed.
    herd_gate = start_gate(srv, HERD_WORKERS)
    local calls, herd_walls, herd_bad = {}, {}, {}
    fake.configure { latency = LATENCY, log = true }
    for round = 1, rounds do
      local _, list = fake.add_users { count = 1, prefix = ("herd%d-"):format(round) }
      local token = list[1]
      local wall, statuses = burst(herd_gate.url, HERD, function() return token end, 30)
      calls[round], herd_walls[round] = calls_for(fake, token), wall
      note_statuses(herd_bad, round, statuses)
      common.note("openresty herd round %d/%d: %d requests, one new token: %d Genesys call(s), %.3f s (%d x 200)",
        round, rounds, HERD, calls[round], wall, statuses["200"] or 0)
    end
    fake.configure { latency = 0, log = false }
    local herd_case = ("herd: %d concurrent requests, one new token, %d workers"):format(HERD, HERD_WORKERS)
    local shown = {}
    for i, c in ipairs(calls) do shown[i] = tostring(c) end
    common.add { section = "3 openresty", case = herd_case, metric = "Genesys calls", unit = "",
      samples = calls, target = "1", met = common.max(calls) == 1,
      note = "GET /api/v2/tokens/me with that token in the fake's log, per round: " .. table.concat(shown, " ") }
    common.add { section = "3 openresty", case = herd_case, metric = "wall time", unit = "s",
      samples = herd_walls, peer = "ideal 0.20 s", ratio = common.median(herd_walls) / LATENCY,
      note = #herd_bad > 0 and table.concat(herd_bad, "; ") or "all 200" }
  end)
  for _, g in ipairs { gate or false, herd_gate or false } do
    if g then
      nginx.stop(g.pid)
      nginx.remove_tempdir(g.dir)
    end
  end
  fake.stop()
  if not ok then error(err, 0) end
end

return M

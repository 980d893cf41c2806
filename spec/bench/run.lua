-- The benchmark suite (make bench): the machine and the date, then
--   1 sequential  calls/s of client:me() on Lua 5.4 and LuaJIT, raw libcurl, the JS SDK
--   2 bulk        revoke_many of 2,000 ids at 50 ms latency, concurrency 1/4/16/64
--   3 openresty   the nginx gate (genesys.tokens.gate, examples/nginx-gate): warm overhead
--                 and cold cache against a plain proxy (wrk); at a 200 ms upstream, cold
--                 validations/s and the herd (1,000 requests, one new token: Genesys calls)
--   4 memory      1,000 clients, and the growth over 200,000 calls (soak.lua)
-- One table on stdout (progress on stderr), the same rows in
-- $BENCH_OUT/results.csv (build/bench), the printed text in results.txt.
-- Benchmarks measure, never assert timings: the "target" column only says
-- whether a figure meets its goal. Exits 1 only when a section broke.
--
-- Environment: BENCH_QUICK=1 (shorter: bulk without concurrency 1, fewer
-- calls), BENCH_SECTIONS=sequential,bulk,openresty,memory (a subset),
-- BENCH_JS_DIR (the folder the JS SDK was npm-installed into; make bench
-- makes a throwaway one), BENCH_RAW_CURL (build/bench/raw_curl), BENCH_PIN,
-- and each section's own knobs (see its file). Run from the repository root.
package.path = "./?.lua;" .. package.path

local common = require "spec.bench.common"
local cjson = require "cjson"

local started = os.time()
local out_dir = common.OUT_DIR
assert(common.execute("mkdir -p " .. common.q(out_dir)))

-- The JS SDK: its folder and version, if it was installed.
local js_dir, js_version = os.getenv("BENCH_JS_DIR"), nil
if js_dir and js_dir ~= "" then
  local text = common.read_file(js_dir .. "/node_modules/purecloud-platform-client-v2/package.json")
  local ok, pkg = pcall(cjson.decode, text or "")
  if ok and type(pkg) == "table" then js_version = pkg.version else js_dir = nil end
else
  js_dir = nil
end

local m = common.machine()
local header = {
  ("genesys.tokens benchmarks, %s%s"):format(m.date, common.QUICK and " (BENCH_QUICK=1)" or ""),
  ("machine: %d CPUs (nproc), %s, %s memory, %s"):format(m.nproc, m.cpu, m.mem, m.kernel),
  ("software: libcurl %s, %s, %s, %s, node %s, JS SDK %s"):format(
    (m.curl:gsub("^libcurl ", "")), m.nginx, m.lua:match("^Lua %S+") or m.lua,
    m.luajit:match("^LuaJIT %S+") or m.luajit, m.node,
    js_version and ("purecloud-platform-client-v2@" .. js_version) or "not installed"),
}
for _, line in ipairs(header) do print(line) end
print()
io.stdout:flush()
for k, v in pairs { date = m.date, nproc = m.nproc, cpu = m.cpu, memory = m.mem, kernel = m.kernel,
  libcurl = m.curl, nginx = m.nginx, lua = m.lua, luajit = m.luajit, node = m.node,
  js_sdk = js_version or "not installed", mode = common.QUICK and "quick" or "full" } do
  common.add { section = "0 machine", case = k, metric = "info", note = tostring(v), csv_only = true }
end
table.sort(common.rows, function(a, b) return a.case < b.case end)

local ctx = {
  js_dir = js_dir,
  raw_curl = os.getenv("BENCH_RAW_CURL") or (out_dir .. "/raw_curl"),
}

local SECTIONS = {
  { name = "sequential", module = "spec.bench.sequential", title = "1 sequential" },
  { name = "bulk", module = "spec.bench.bulk_section", title = "2 bulk" },
  { name = "openresty", module = "spec.bench.gate_section", title = "3 openresty" },
  { name = "memory", module = "spec.bench.memory_section", title = "4 memory" },
}
local wanted = {}
for name in (os.getenv("BENCH_SECTIONS") or "sequential,bulk,openresty,memory"):gmatch("[%w_]+") do
  wanted[name] = true
end

local failed = 0
for _, s in ipairs(SECTIONS) do
  if wanted[s.name] then
    common.note("section %s", s.title)
    local t0 = os.time()
    local ok, err = pcall(function() return require(s.module).run(ctx) end)
    if not ok then
      failed = failed + 1
      io.stderr:write("bench: section ", s.title, " failed:\n", tostring(err), "\n")
      common.add { section = s.title, case = "(section failed)", metric = "",
        note = (tostring(err):match("[^\n]*")) }
    end
    common.note("section %s took %d s", s.title, os.time() - t0)
  end
end
if not js_dir and wanted.sequential then
  common.add { section = "1 sequential", case = "JS SDK", metric = "calls/s",
    note = "not installed (npm install failed or BENCH_JS_DIR unset)" }
end

-- The table: every row but the machine's.
local shown = {}
for _, r in ipairs(common.rows) do if not r.csv_only then shown[#shown + 1] = r end end
local all = common.rows
common.rows = shown
local text = common.table()
common.rows = all
print(text)
print()
local footer = ("ratios are of medians, but section 3's gate/plain ratios and overheads (plain rps / gate rps - 1),"
  .. " which are medians of the per-round ratios; %d s in all; CSV: %s/results.csv")
  :format(os.time() - started, out_dir)
print(footer)

common.write_csv(out_dir .. "/results.csv")
common.write_file(out_dir .. "/results.txt", table.concat(header, "\n") .. "\n\n" .. text .. "\n\n" .. footer .. "\n")
os.exit(failed == 0 and 0 or 1)

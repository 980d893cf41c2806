-- Shared helpers of the benchmark suite (spec/bench/run.lua and its
-- sections): medians, shell commands, the machine, result rows, the table
-- and the CSV. Lua 5.4 (the orchestrator's runtime) with luasocket.
local nginx = require "spec.support.nginx"

local M = {}

M.q = nginx.q
M.capture = nginx.capture
M.execute = nginx.execute
M.read_file = nginx.read_file
M.write_file = nginx.write_file

M.QUICK = (os.getenv("BENCH_QUICK") or "") ~= "" and os.getenv("BENCH_QUICK") ~= "0"
M.OUT_DIR = os.getenv("BENCH_OUT") or "build/bench"

--- The median of a list of numbers (nil for an empty list).
function M.median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  if #s == 0 then return nil end
  table.sort(s)
  local m = #s
  return m % 2 == 1 and s[(m + 1) / 2] or (s[m / 2] + s[m / 2 + 1]) / 2
end

function M.min(list)
  local v
  for _, x in ipairs(list) do if not v or x < v then v = x end end
  return v
end

function M.max(list)
  local v
  for _, x in ipairs(list) do if not v or x > v then v = x end end
  return v
end

--- Prints a progress line on stderr (the table goes to stdout).
function M.note(fmt, ...)
  io.stderr:write("bench: ", fmt:format(...), "\n")
  io.stderr:flush()
end

--- Runs a shell command, returns its stdout and whether it exited 0.
function M.run(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok == true, code
end

--- The "RESULT k=v ..." line of a runner as a table (nil if there is none).
function M.parse_result(out)
  local line = out:match("RESULT[^\n]*")
  if not line then return nil end
  local t = {}
  for k, v in line:gmatch("(%w+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

---------------------------------------------------------------- machine

function M.machine()
  local cpuinfo = M.read_file("/proc/cpuinfo") or ""
  local meminfo = M.read_file("/proc/meminfo") or ""
  local mem_kib = tonumber(meminfo:match("MemTotal:%s*(%d+)")) or 0
  local function version(cmd) return (M.capture(cmd .. " 2>&1"):match("[^\n]*") or "?") end
  return {
    date = os.date("!%Y-%m-%d %H:%M:%S UTC"),
    nproc = tonumber((M.capture("nproc"):match("%d+"))) or 1,
    cpu = cpuinfo:match("model name%s*:%s*([^\n]+)") or "unknown",
    mem = ("%.1f GiB"):format(mem_kib / 1024 / 1024),
    kernel = version("uname -sr"),
    curl = version("curl-config --version"),
    nginx = version("nginx -v"):gsub("^nginx version: ", ""),
    lua = (version("lua5.4 -v"):match("^Lua %S+") or "lua5.4 ?"),
    luajit = (version("luajit -v"):match("^LuaJIT %S+") or "luajit ?"),
    node = version("node --version"),
  }
end

---------------------------------------------------------------- rows

-- Every result row: section, case, metric, unit, median, min, max, n,
-- peer (what it is compared with), ratio, target, met, note.
M.rows = {}

--- Adds a row; `samples` is a list of measurements (or a single number).
function M.add(row)
  local s = row.samples
  if type(s) == "number" then s = { s } end
  s = s or {}
  row.median = row.median or M.median(s)
  row.min = row.min or M.min(s)
  row.max = row.max or M.max(s)
  row.n = row.n or #s
  M.rows[#M.rows + 1] = row
  return row
end

local function num(v, unit)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  if unit == "%" then return ("%.1f"):format(v) end
  if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
  if math.abs(v) >= 1000 then return ("%.0f"):format(v) end
  if math.abs(v) >= 100 then return ("%.1f"):format(v) end
  if math.abs(v) >= 10 then return ("%.2f"):format(v) end
  return ("%.3f"):format(v)
end
M.num = num

local function ratio(v)
  if v == nil then return "" end
  return ("%.2f"):format(v)
end

--- The table of every row, as printed on stdout.
function M.table()
  local head = { "section", "client/case", "metric", "median", "peer", "ratio", "target", "note" }
  local lines = { head }
  for _, r in ipairs(M.rows) do
    local target = r.target or ""
    if r.met ~= nil then target = target .. (r.met and " met" or " MISSED") end
    lines[#lines + 1] = {
      r.section, r.case, r.metric .. (r.unit and r.unit ~= "" and (" (" .. r.unit .. ")") or ""),
      r.median and num(r.median, r.unit) or "n/a", r.peer or "", ratio(r.ratio), target, r.note or "",
    }
  end
  local widths = {}
  for _, l in ipairs(lines) do
    for i, cell in ipairs(l) do widths[i] = math.max(widths[i] or 0, #tostring(cell)) end
  end
  local out = {}
  for n, l in ipairs(lines) do
    local cells = {}
    for i, cell in ipairs(l) do
      -- Padded by hand: string.format takes widths of 2 digits at most (Lua 5.4).
      cell = tostring(cell)
      local pad = (" "):rep(widths[i] - #cell)
      cells[i] = (i == 4 or i == 6) and pad .. cell or cell .. pad
    end
    out[#out + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
    if n == 1 then
      local rule = {}
      for i = 1, #widths do rule[i] = ("-"):rep(widths[i]) end
      out[#out + 1] = table.concat(rule, "  ")
    end
  end
  return table.concat(out, "\n")
end

local function csv_cell(v)
  if v == nil then return "" end
  if type(v) == "boolean" then return v and "yes" or "no" end
  if type(v) == "number" then
    if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
    return ("%.6g"):format(v)
  end
  v = tostring(v)
  if v:find('[,"\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

M.CSV_COLUMNS = { "section", "case", "metric", "unit", "median", "min", "max", "n",
  "peer", "ratio", "target", "met", "note" }

--- Writes every row to path as CSV (a header line, then one line a row).
function M.write_csv(path)
  local lines = { table.concat(M.CSV_COLUMNS, ",") }
  for _, r in ipairs(M.rows) do
    local cells = {}
    for i, k in ipairs(M.CSV_COLUMNS) do cells[i] = csv_cell(r[k]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  M.write_file(path, table.concat(lines, "\n") .. "\n")
end

return M

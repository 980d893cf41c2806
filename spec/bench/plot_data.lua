-- make bench-plot's data: section 1's calls/s rows of results.csv, one per
-- client (the first row of each), written to OUT as tab-separated
-- label, median, min, max (a "|" in the label is a line break for plot.gp);
-- a subtitle (the ratios as the table has them, machine, date, mode) on
-- stdout.
--   lua5.4 spec/bench/plot_data.lua build/bench/results.csv build/bench/calls_per_second.dat
local csv_path, out_path = arg[1], arg[2]
assert(csv_path and out_path, "usage: plot_data.lua RESULTS.csv OUT.dat")

-- One CSV line into fields ("" quoting as written by common.write_csv).
local function fields(line)
  local out, i = {}, 1
  while i <= #line + 1 do
    if line:sub(i, i) == '"' then
      local value, j = {}, i + 1
      while true do
        local k = assert(line:find('"', j, true), "unterminated quote in " .. csv_path)
        value[#value + 1] = line:sub(j, k - 1)
        if line:sub(k + 1, k + 1) == '"' then
          value[#value + 1] = '"'
          j = k + 2
        else
          i = k + 2
          break
        end
      end
      out[#out + 1] = table.concat(value)
    else
      local k = line:find(",", i, true) or (#line + 1)
      out[#out + 1] = line:sub(i, k - 1)
      i = k + 1
    end
  end
  return out
end

local f = assert(io.open(csv_path))
local names, rows, seen, info, ratio_of = nil, {}, {}, {}, {}
for line in f:lines() do
  local v = fields(line)
  if not names then
    names = {}
    for i, n in ipairs(v) do names[n] = i end
  else
    local function get(n) return v[names[n]] end
    if get("section") == "0 machine" then info[get("case")] = get("note") end
    if get("section") == "1 sequential" and get("metric") == "calls/s" and tonumber(get("ratio")) then
      ratio_of[get("case") .. "|" .. (get("peer"):match("^JS SDK") and "js" or "raw")] = tonumber(get("ratio"))
    end
    if get("section") == "1 sequential" and get("metric") == "calls/s" and tonumber(get("median"))
        and not seen[get("case")] then
      seen[get("case")] = true
      local label = get("case"):gsub("^genesys%.tokens ", "genesys.tokens|"):gsub("^JS SDK ", "JS SDK|")
        :gsub("^raw libcurl ", "raw libcurl|")
      rows[#rows + 1] = table.concat({ label, get("median"), get("min"), get("max") }, "\t")
    end
  end
end
f:close()
if #rows == 0 then
  io.stderr:write("bench-plot: no section 1 calls/s rows in ", csv_path, "\n")
  os.exit(1)
end
local out = assert(io.open(out_path, "w"))
out:write(table.concat(rows, "\n"), "\n")
out:close()
-- The ratios as the table gives them (medians of the cycles' ratios).
local ratios = {}
for _, name in ipairs { "Lua 5.4", "LuaJIT" } do
  local raw, js = ratio_of["genesys.tokens " .. name .. "|raw"], ratio_of["genesys.tokens " .. name .. "|js"]
  if raw then
    ratios[#ratios + 1] = ("%s: %.2fx raw libcurl%s"):format(name, raw, js and (", %.2fx JS SDK"):format(js) or "")
  end
end
io.write(table.concat(ratios, "; "), "\n")
io.write(("%s CPUs %s, %s; %s%s"):format(info.nproc or "?", info.cpu or "?", info.memory or "?",
  info.date or "?", info.mode == "quick" and " (BENCH_QUICK=1)" or ""))

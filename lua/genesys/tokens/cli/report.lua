-- The revocation report: append-only JSON lines, one per user as each
-- finishes, each written whole and flushed, so that a crash or a full disk
-- can cut at most the last line. Resuming ignores a line that does not
-- parse, and a new record never continues a cut line.
local cjson = require "cjson"
local json = require "genesys.tokens.json"

local report = {}

-- Whether the regular file at `path` has content that does not end with
-- a newline (the last line was cut). Devices and missing files: false.
local function ends_cut(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local size = f:seek("end")
  local last = size and size > 0 and f:seek("set", size - 1) and f:read(1)
  f:close()
  return last ~= nil and last ~= false and last ~= "\n"
end

--- Opens the report at `path` for appending. Returns a writer, or nil and
-- why not.
function report.open(path)
  local f, err = io.open(path, "ab")
  if not f then return nil, err end
  local writer, failed = {}, nil
  local pending = ends_cut(path) and "\n" or ""

  --- Appends one record; returns true, or nil and the write error (and
  -- every later write fails the same way).
  function writer.write(line)
    if failed then return nil, failed end
    local ok, e = f:write(pending, line)
    if ok then ok, e = f:flush() end
    if not ok then
      failed = path .. ": " .. tostring(e)
      return nil, failed
    end
    pending = ""
    return true
  end

  --- Closes it; returns true, or nil and the error of the last write or
  -- of the close.
  function writer.close()
    local ok, e = f:close()
    if failed then return nil, failed end
    if not ok then return nil, path .. ": " .. tostring(e) end
    return true
  end
  return writer
end

local function utc_now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

--- One record: the id, whether it was revoked, when, and for a failure
-- what the error says (never a secret: errors are scrubbed where made).
function report.line(id, ok, err)
  local parts = { '{"id":', cjson.encode(tostring(id)), ',"ok":', ok and "true" or "false",
    ',"time":"', utc_now(), '"' }
  if err then
    for _, key in ipairs { "kind", "status", "code", "message", "correlation_id" } do
      local v = err[key]
      if v ~= nil then
        parts[#parts + 1] = ',"' .. key .. '":' .. (type(v) == "number" and ("%d"):format(v)
          or cjson.encode(tostring(v)))
      end
    end
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

--- The ids a report says are revoked, and how many. A missing file says
-- none; one that cannot be read (a directory, no permission) gives nil
-- and why.
function report.done(path)
  local done, n = {}, 0
  local f, err, errno = io.open(path, "rb")
  if not f then
    if errno == 2 then return done, 0 end -- ENOENT: no report yet
    return nil, err
  end
  local text
  text, err = f:read("*a")
  f:close()
  if not text then return nil, path .. ": " .. tostring(err) end
  for line in text:gmatch("[^\n]+") do
    local entry = json.decode_object(line)
    if entry and entry.ok == true and type(entry.id) == "string" and not done[entry.id] then
      done[entry.id] = true
      n = n + 1
    end
  end
  return done, n
end

return report

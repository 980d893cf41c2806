-- A call's outcome as plain data, the same from both transports: inside
-- nginx (app.lua sends it as JSON) and in the spec process.
-- { value = ..., err = { kind, status, code, message, correlation_id,
--   retry_after, text } } or { raised = "message" }.
local outcome = {}

local unpack = table.unpack or unpack -- luacheck: ignore (5.1 global)

--- Runs `call` (a method name) with `args` on a new client built from
--- `client_opts`, `times` times on the same client; the last outcome.
function outcome.run(tokens, client_opts, call, args, times)
  local ok, value, err = pcall(function()
    local c = tokens.new(client_opts)
    local v, e
    for _ = 1, times or 1 do v, e = c[call](c, unpack(args or {})) end
    c:close()
    return v, e
  end)
  if not ok then return { raised = tostring(value) } end
  local out = { value = value }
  if type(err) == "table" then
    out.err = { kind = err.kind, status = err.status, code = err.code, message = err.message,
      correlation_id = err.correlation_id, retry_after = err.retry_after, text = tostring(err) }
  end
  return out
end

return outcome

-- Handlers of the OpenResty spec server (see nginx.conf.in). They run the
-- library inside nginx and report what it returned, as JSON.
local cjson = require "cjson.safe"
local outcome = require "outcome"
local tokens = require "genesys.tokens"

local ngx = ngx
local app = {}

local fake_url -- the fake Genesys Cloud, set by init

local function me_in(phase_opts)
  local opts = { base_url = fake_url, access_token = "tok-admin" }
  for k, v in pairs(phase_opts or {}) do opts[k] = v end
  return outcome.run(tokens, opts, "me")
end

local function verdict(o)
  if o.raised then return "raised: " .. o.raised end
  if o.err then return o.err.kind .. ": " .. o.err.message end
  return "ok: " .. tostring(o.value.organization and o.value.organization.name)
end

function app.init(url)
  fake_url = url
  ngx.shared.results:set("init", verdict(me_in()))
end

-- What JSON cannot carry (inf, nan, functions, userdata) as strings.
local function jsonable(v, depth)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then return tostring(v) end
  if type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then return tostring(v) end
  if type(v) ~= "table" or depth > 10 then return v end
  local t = {}
  for k, x in pairs(v) do t[type(k) == "number" and k or tostring(k)] = jsonable(x, depth + 1) end
  return t
end

-- POST { client, call, args, times, extra } (extra: see outcome.lua).
function app.call()
  ngx.req.read_body()
  local body = cjson.decode(ngx.req.get_body_data() or "")
  local o = outcome.run(tokens, body.client, body.call, body.args, body.times, body.extra)
  if o.value == nil then o.value = cjson.null end
  ngx.header["Content-Type"] = "application/json"
  local text, err = cjson.encode(o)
  if not text then text = cjson.encode(jsonable(o, 0)) end
  ngx.say(text or cjson.encode { raised = "app: cannot encode the outcome: " .. tostring(err) })
end

function app.in_phase(phase, opts)
  return verdict(me_in(opts)) .. " (" .. phase .. ")"
end

function app.in_header_filter()
  ngx.header["X-Verdict"] = verdict(me_in())
end

function app.in_log()
  ngx.shared.results:set("log", verdict(me_in()))
end

function app.result_of(key)
  ngx.say(ngx.shared.results:get(key) or "none")
end

function app.in_timer()
  ngx.shared.results:delete("timer")
  ngx.timer.at(0, function(premature)
    if premature then return end
    ngx.shared.results:set("timer", verdict(me_in()))
  end)
  for _ = 1, 200 do -- bounded: at most 10 s
    local v = ngx.shared.results:get("timer")
    if v then return ngx.say(v) end
    ngx.sleep(0.05)
  end
  ngx.say("timer never finished")
end

function app.in_access()
  ngx.header["X-Verdict"] = verdict(me_in())
end

function app.in_rewrite()
  ngx.header["X-Verdict"] = verdict(me_in())
end

-- One client per worker, as a gate keeps it: its connections are pooled.
local gate_client

function app.validate()
  gate_client = gate_client or tokens.new { base_url = fake_url, timeout = 5, retry = false }
  local token = (ngx.var.http_authorization or ""):match("^Bearer (%S+)$")
  if not token then return ngx.exit(401) end
  local ok, err = gate_client:verify { access_token = token }
  if ok then return end
  if ok == false then return ngx.exit(401) end
  ngx.log(ngx.ERR, "validate: ", tostring(err))
  return ngx.exit(503)
end

return app

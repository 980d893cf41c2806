-- The gate's counters, kept in a shared dict so that every worker's
-- requests count, and their Prometheus text exposition (format 0.0.4).
-- `dict` is anything with ngx.shared.DICT's get and incr.
local metrics = {}
metrics.__index = metrics

metrics.OUTCOMES = { "allowed", "stale", "refused", "forbidden", "unavailable", "preflight" }
metrics.CACHE = { "hit", "miss", "wait", "shed" }
metrics.CLASSES = { "2xx", "3xx", "4xx", "5xx", "error" }
metrics.BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local PREFIX = "metric:"

function metrics.new(dict)
  return setmetatable({ dict = dict }, metrics)
end

local function bump(self, key, by)
  local ok, err = self.dict:incr(PREFIX .. key, by or 1, 0)
  if not ok and ngx then ngx.log(ngx.WARN, "genesys gate: could not count ", key, ": ", err) end
end

--- One request decided: `outcome` is one of OUTCOMES.
function metrics:request(outcome) bump(self, "requests:" .. outcome) end

--- How a request with a token found its verdict: one of CACHE.
function metrics:cache(result) bump(self, "cache:" .. result) end

--- One validation call to Genesys Cloud: its final status (nil when none
-- came) and how long it took, retries included.
function metrics:call(status, seconds)
  local class = status and status >= 200 and status < 600 and (math.floor(status / 100) .. "xx") or "error"
  bump(self, "calls:" .. class)
  local i = #metrics.BUCKETS + 1
  for b, limit in ipairs(metrics.BUCKETS) do
    if seconds <= limit then i = b break end
  end
  bump(self, "latency:" .. i)       -- per bucket; render() makes them cumulative
  bump(self, "latency:sum", seconds)
end

local function number(v)
  if v % 1 == 0 and v < 2 ^ 53 then return ("%d"):format(v) end
  return ("%.17g"):format(v)
end

--- The exposition text.
function metrics:render()
  local dict, out = self.dict, {}
  local function get(key) return dict:get(PREFIX .. key) or 0 end
  local function family(name, help, kind)
    out[#out + 1] = ("# HELP %s %s\n# TYPE %s %s\n"):format(name, help, name, kind)
  end
  family("genesys_gate_requests_total", "Requests the gate decided, by outcome.", "counter")
  for _, o in ipairs(metrics.OUTCOMES) do
    out[#out + 1] = ('genesys_gate_requests_total{outcome="%s"} %s\n'):format(o, number(get("requests:" .. o)))
  end
  family("genesys_gate_cache_total",
    "Requests with a token, by how their verdict was found: hit (cached), miss (this request asked "
    .. "Genesys Cloud), wait (shared another request's call), shed (over max_pending).", "counter")
  for _, r in ipairs(metrics.CACHE) do
    out[#out + 1] = ('genesys_gate_cache_total{result="%s"} %s\n'):format(r, number(get("cache:" .. r)))
  end
  family("genesys_gate_genesys_calls_total",
    "Validation calls to Genesys Cloud (GET /api/v2/tokens/me, retries included), by final status class.", "counter")
  for _, c in ipairs(metrics.CLASSES) do
    out[#out + 1] = ('genesys_gate_genesys_calls_total{status="%s"} %s\n'):format(c, number(get("calls:" .. c)))
  end
  family("genesys_gate_genesys_call_seconds", "Duration of the validation calls to Genesys Cloud.", "histogram")
  local total = 0
  for i, limit in ipairs(metrics.BUCKETS) do
    total = total + get("latency:" .. i)
    out[#out + 1] = ('genesys_gate_genesys_call_seconds_bucket{le="%g"} %s\n'):format(limit, number(total))
  end
  total = total + get("latency:" .. (#metrics.BUCKETS + 1))
  out[#out + 1] = ('genesys_gate_genesys_call_seconds_bucket{le="+Inf"} %s\n'):format(number(total))
  out[#out + 1] = ("genesys_gate_genesys_call_seconds_sum %s\n"):format(number(get("latency:sum")))
  -- The count is the +Inf bucket's: two counters bumped apart could differ
  -- for a moment, and the exposition must agree with itself.
  out[#out + 1] = ("genesys_gate_genesys_call_seconds_count %s\n"):format(number(total))
  return table.concat(out)
end

return metrics

-- The hostile server: the Tokens API as a nasty network puts it on the
-- wire, run inside the fake's nginx (see nginx.conf.in). Loaded as
-- `require "hostile"`. Every response is written as raw bytes on the
-- downstream socket (ngx.req.socket(true)), in pieces, with pauses between
-- them; the connection is closed after each response (a raw socket ends
-- it), so a client also meets a kept-alive connection that went stale.
--
-- URL: /hostile/<mode>/<nonce>/<rest>, <rest> one of
--   GET|HEAD|DELETE /api/v2/tokens/me, DELETE /api/v2/tokens/{userId},
--   GET|PUT /api/v2/tokens/timeout, POST /oauth/token
-- (the same listeners, plain HTTP and TLS). The logical answers:
--   GET me: 200, TokenInfo (TOKEN_INFO: compact, with a JSON null field);
--   HEAD me: 200, the GET's headers (its Content-Length too), no body;
--   DELETE me, DELETE {userId}: 204; GET timeout: 200, IDLE_TIMEOUT;
--   PUT timeout: 200, the body it got; POST /oauth/token (HTTP Basic,
--   grant_type=client_credentials): 200 {access_token, token_type,
--   expires_in}, a token "hst-..." the API calls must then present (any
--   other Bearer token is taken as it is). No Authorization: 401 ErrorBody
--   (the login: OAuth shape, as every login error here).
-- Per nonce, the shared dict `hostile` counts the requests (a mode may
-- answer the first one differently) and keeps what each carried: GET
-- /_fake/hostile/<nonce> -> { count, requests = [{ n, method, path, query,
-- authorization, raw_header, body, mode, time, status, correlation_id }],
-- tokens = [issued] } (status and correlation id: what it answered);
-- GET /_fake/hostile -> { modes, token_info, idle_timeout } (the JSON texts).
--
-- Modes (each the same logical answer, put on the wire another way):
--   plain               one write (the baseline)
--   bytes               every byte its own write, 1 ms apart
--   random              random pieces (1-24 bytes), 0-3 ms apart; seeded
--                       from the nonce and the request's number, so the
--                       same nonce gives the same pieces (the spec puts its
--                       seed in the nonce)
--   chunked             Transfer-Encoding: chunked, chunks of 1-7 bytes and
--                       some of 10-31 (hex in mixed case, leading zeros),
--                       chunk extensions (;x=y), a trailer field; writes
--                       split inside chunk-size lines, chunk data and CRLFs
--   interim             100 Continue and 103 Early Hints (Link) first, all
--                       split across writes
--   huge_header         one header line of 1 MiB (then the answer)
--   endless_line        a header line that never ends: 64 KiB writes of "a"
--                       as fast as the client reads, until it hangs up (256
--                       MiB or 10 s at most)
--   slow_line           a header line that never ends, a byte every 100 ms
--                       (10 s at most)
--   many_headers        10,000 header lines before the answer's own
--   ratelimit_zero      inin-ratelimit-count/allowed/reset: 0 / 0 / 0
--   ratelimit_negative  -1 / -300 / -60
--   ratelimit_huge      25-digit numbers
--   ratelimit_garbage   "lots" / "" / "1e3", and a second reset "0x10"
--   retry_after_seconds 429 Retry-After: 1 to a nonce's first request, then the answer
--   retry_after_date    429 with an HTTP-date 2 s ahead (whole seconds: 1-2 s), once
--   retry_after_past_date  429 with an HTTP-date an hour ago, once
--   retry_after_far_date   429 with an HTTP-date an hour ahead, always
--   retry_after_negative   429 Retry-After: -5, once
--   retry_after_huge    429 Retry-After: 99999999999999, always
--   retry_after_garbage 429 Retry-After: soon, once
--   retry_after_ratelimit  as retry_after_seconds, the 429 with inin-ratelimit
--                       count = allowed = 300, reset 1 (the other answers: n/300/60)
--                       (429 bodies: ErrorBody too.many.requests.retry.after,
--                       no rate-limit headers unless said; on the login, the
--                       OAuth shape)
--   echo                400 ErrorBody: message = the request line and every
--                       header line as received (cjson-encoded: '/' is
--                       '\/'), code and contextId = the Authorization value,
--                       ININ-Correlation-Id: the Authorization value; on the
--                       login {error = Authorization, error_description =
--                       the header lines}
--   echo_ok             the answer, with ININ-Correlation-Id: the Authorization value
--   stall_headers       the status line, then nothing until the client goes (10 s at most)
--   stall_body          headers saying Content-Length: 300, 10 bytes of body, then
--                       nothing (a HEAD or 204 gets its headers, then nothing)
--                       (a stall ends when the client closes or sends anything:
--                       a request on a connection it kept is closed unanswered)
--   trickle_body        the body one byte every 100 ms (10 s at most)
--   trickle_headers     the header block one byte every 50 ms (10 s at most)
--   close_early         the headers and half the body, then close (no body:
--                       half the header block)
--   garbage_status      a first line that is not HTTP, headers, body, close
--   nonsense_headers    a line without a colon, "X-Spaced : v", an obs-fold
--                       continuation, bytes 0x01 0x7f 0xff in a value, an empty
--                       value; Content-Length right
--   odd_headers         the same without the line that has no colon
--   bad_content_length  two Content-Length lines: the right one, then one 5 more
--   bad_content_length_alpha  Content-Length: lots (the body, then close)
--   http10              HTTP/1.0, no Content-Length, the body until close
--   lf_only             bare LF line endings
--   connection_close    the answer with Connection: close
--   mixed_case          header names in odd case (cOnTeNt-LeNgTh, ...)
--   no_reason           a status line without a reason phrase ("HTTP/1.1 200 ")
--
-- Every wait is bounded (MAX_WAIT): no worker is held by a client that
-- never reads nor by one that left.
local cjson = require "cjson"

local M = {}

local dict = ngx.shared.hostile

local MAX_WAIT = 10 -- seconds any stall or trickle may last
local MAX_BODY = 64 * 1024 -- request bodies read
local CRLF = "\r\n"

-- The answers' bodies, fixed and compact (bytes mode writes them a byte a
-- millisecond). TokenInfo keeps one JSON null, which a client drops.
local ORG = '{"id":"org-h1","name":"Hostile Org"}'
local TOKEN_INFO = '{"organization":' .. ORG .. ',"homeOrganization":' .. ORG
  .. ',"authorizedScope":["admin"],"OAuthClient":{"id":"app-h1","name":"Hostile App",'
  .. '"authorizedGrantType":"CLIENT-CREDENTIALS","organization":{"id":"org-h1"}},"clonedUser":null}'
local IDLE_TIMEOUT = '{"enableIdleTokenTimeout":true,"idleTokenTimeoutSeconds":900,"inactivityTimeoutUnit":"Minutes"}'

local REASONS = {
  [100] = "Continue", [103] = "Early Hints", [200] = "OK", [204] = "No Content", [400] = "Bad Request",
  [401] = "Unauthorized", [404] = "Not Found", [405] = "Method Not Allowed", [429] = "Too Many Requests",
  [500] = "Internal Server Error",
}

---------------------------------------------------------------- helpers

-- A small deterministic generator (Park-Miller), one per request: the
-- pieces do not depend on what other requests draw meanwhile.
local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 2147483647 end
  return h == 0 and 1 or h
end

local function generator(seed_text)
  local x = hash(seed_text)
  return function(lo, hi)
    x = x * 16807 % 2147483647
    return lo + x % (hi - lo + 1)
  end
end

local function uuid(rand)
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x", rand(0, 0x7fffffff), rand(0, 0xffff), rand(0, 0xfff),
    rand(0x8000, 0xbfff), rand(0, 0xffffff), rand(0, 0xffffff))
end

-- Sends the pieces in order, `pause(i)` seconds after piece i (nil or 0:
-- none). False when the client has gone.
local function send_pieces(sock, pieces, pause)
  for i, p in ipairs(pieces) do
    if p ~= "" then
      local ok = sock:send(p)
      if not ok then return false end
      local d = pause and pause(i)
      if d and d > 0 and i < #pieces then ngx.sleep(d) end
    end
  end
  return true
end

-- Pieces of `s`, each `size` bytes (the last may be shorter).
local function cut(s, size)
  local out = {}
  for i = 1, #s, size do out[#out + 1] = s:sub(i, i + size - 1) end
  return out
end

-- Waits until the client closes the connection or sends something (a
-- next request on a connection it took for alive: it is then closed
-- unanswered, as a stale kept-alive connection would be), at most `seconds`.
local function wait_for_close(sock, seconds)
  local deadline = ngx.now() + math.min(seconds, MAX_WAIT)
  sock:settimeout(100)
  while ngx.now() < deadline do
    local data, err = sock:receive(1)
    if data or err ~= "timeout" then return end
    ngx.update_time()
  end
end

-- One byte every `interval` seconds; false when the client went away
-- (MAX_WAIT in all: then the rest goes at once).
local function trickle(sock, s, interval)
  local stop = ngx.now() + MAX_WAIT
  for i = 1, #s do
    if not sock:send(s:sub(i, i)) then return false end
    ngx.update_time()
    if ngx.now() >= stop then return sock:send(s:sub(i + 1)) ~= nil end
    ngx.sleep(interval)
  end
  return true
end

---------------------------------------------------------------- answers

-- The platform's ErrorBody (compact; details and errors empty arrays).
local function error_body(status, code, message, cid)
  return '{"message":' .. cjson.encode(message) .. ',"code":' .. cjson.encode(code) .. ',"status":' .. status
    .. ',"contextId":' .. cjson.encode(cid) .. ',"details":[],"errors":[]}'
end

local function oauth_error(err, description)
  return '{"error":' .. cjson.encode(err) .. ',"error_description":' .. cjson.encode(description) .. '}'
end

-- The logical answer: { status, headers = { {name, value}... } without the
-- framing ones, body (string or nil), head = true for HEAD }.
local function answer_for(ctx)
  local cid = ctx.cid
  local function reply(status, body, extra)
    local h = {}
    if body then h[#h + 1] = { "Content-Type", "application/json" } end
    h[#h + 1] = { "ININ-Correlation-Id", cid }
    h[#h + 1] = { "inin-ratelimit-count", tostring(ctx.n) }
    h[#h + 1] = { "inin-ratelimit-allowed", "300" }
    h[#h + 1] = { "inin-ratelimit-reset", "60" }
    for _, x in ipairs(extra or {}) do h[#h + 1] = x end
    return { status = status, headers = h, body = body, head = ctx.method == "HEAD" }
  end

  local auth = ctx.authorization
  local rest, method = ctx.path, ctx.method
  if rest == "/oauth/token" then
    if method ~= "POST" then return reply(405, oauth_error("invalid_request", "POST only")) end
    if not auth then return reply(401, oauth_error("invalid_client", "client authentication is required")) end
    local b64 = auth:match("^[Bb][Aa][Ss][Ii][Cc] +(%S+)$")
    local pair = b64 and ngx.decode_base64(b64)
    if not pair or not pair:find(":", 1, true) then
      return reply(401, oauth_error("invalid_client", "HTTP Basic client authentication is required"))
    end
    if ngx.decode_args(ctx.body or "").grant_type ~= "client_credentials" then
      return reply(400, oauth_error("unsupported_grant_type", "grant_type must be client_credentials"))
    end
    local token = "hst-" .. uuid(ctx.rand) .. "." .. uuid(ctx.rand)
    dict:set("tok:" .. token, ctx.nonce)
    ctx.issued = token
    return reply(200, cjson.encode { access_token = token, token_type = "bearer", expires_in = 86400 },
      { { "Cache-Control", "no-store" }, { "Pragma", "no-cache" } })
  end

  local routes
  if rest == "/api/v2/tokens/me" then
    routes = { GET = "info", HEAD = "info", DELETE = "gone" }
  elseif rest == "/api/v2/tokens/timeout" then
    routes = { GET = "timeout", PUT = "echo_body" }
  elseif rest:match("^/api/v2/tokens/[^/]+$") then
    routes = { DELETE = "gone" }
  else
    return reply(404, error_body(404, "not.found", "The requested resource was not found.", cid))
  end
  local what = routes[method]
  if not what then
    return reply(405, error_body(405, "method.not.allowed", "HTTP " .. method .. " is not supported", cid))
  end
  local token = auth and auth:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +(%S+)$")
  if not token or (token:sub(1, 4) == "hst-" and not dict:get("tok:" .. token)) then
    return reply(401, error_body(401, "bad.credentials", "Invalid login credentials.", cid))
  end
  if what == "info" then return reply(200, TOKEN_INFO) end
  if what == "timeout" then return reply(200, IDLE_TIMEOUT) end
  if what == "gone" then return reply(204, nil) end
  -- PUT: what it got (a JSON object), or a 400.
  local ok, v = pcall(cjson.decode, ctx.body or "")
  if not ok or type(v) ~= "table" then
    return reply(400, error_body(400, "bad.request", "The request could not be understood.", cid))
  end
  return reply(200, ctx.body)
end

-- 429 answers of the retry_after_* modes: mode -> function(now) giving the
-- Retry-After value and the seconds it means, and whether only a nonce's
-- first request gets it.
local RETRY_AFTER = {
  retry_after_seconds = { once = true, value = function() return "1", 1 end },
  retry_after_date = { once = true, value = function(now)
    local at = math.floor(now) + 2
    return ngx.http_time(at), 2
  end },
  retry_after_past_date = { once = true, value = function(now) return ngx.http_time(math.floor(now) - 3600), 0 end },
  retry_after_far_date = { once = false, value = function(now)
    return ngx.http_time(math.floor(now) + 3600), 3600
  end },
  retry_after_negative = { once = true, value = function() return "-5", 0 end },
  retry_after_huge = { once = false, value = function() return "99999999999999", 99999999999999 end },
  retry_after_garbage = { once = true, value = function() return "soon", 1 end },
  -- As retry_after_seconds, with the rate-limit headers of a window used
  -- up (count = allowed = 300, reset 1), while the other answers say 60.
  retry_after_ratelimit = { once = true, ratelimit = true, value = function() return "1", 1 end },
}

local function too_many(ctx, res, spec)
  local value, secs = spec.value(ngx.now())
  local msg = "Rate limit exceeded the maximum. Retry the request in [" .. string.format("%.0f", secs) .. "] seconds"
  res.status = 429
  res.body = ctx.path == "/oauth/token" and oauth_error("too_many_requests", msg)
    or error_body(429, "too.many.requests.retry.after", msg, ctx.cid)
  res.headers = { { "Content-Type", "application/json" }, { "ININ-Correlation-Id", ctx.cid }, { "Retry-After", value } }
  if spec.ratelimit then
    local h = res.headers
    h[#h + 1] = { "inin-ratelimit-count", "300" }
    h[#h + 1] = { "inin-ratelimit-allowed", "300" }
    h[#h + 1] = { "inin-ratelimit-reset", tostring(secs) }
  end
end

local RATELIMIT = {
  ratelimit_zero = { { "0" }, { "0" }, { "0" } },
  ratelimit_negative = { { "-1" }, { "-300" }, { "-60" } },
  ratelimit_huge = { { "1234567890123456789012345" }, { "9999999999999999999999999" }, { "1000000000000000000000000" } },
  ratelimit_garbage = { { "lots" }, { "" }, { "1e3", "0x10" } },
}
local RL_NAMES = { "inin-ratelimit-count", "inin-ratelimit-allowed", "inin-ratelimit-reset" }

-- Changes the logical answer as the mode wants (before framing).
local function shape(ctx, res)
  local mode = ctx.mode
  local ra = RETRY_AFTER[mode]
  if ra and (ctx.n == 1 or not ra.once) and res.status ~= 401 then
    return too_many(ctx, res, ra)
  end
  local rl = RATELIMIT[mode]
  if rl then
    local h = {}
    for _, x in ipairs(res.headers) do
      if not x[1]:find("^inin%-ratelimit%-") then h[#h + 1] = x end
    end
    for i, values in ipairs(rl) do
      for _, v in ipairs(values) do h[#h + 1] = { RL_NAMES[i], v } end
    end
    res.headers = h
    return
  end
  local auth = ctx.authorization or ""
  if mode == "echo_ok" or mode == "echo" then
    for _, x in ipairs(res.headers) do
      if x[1] == "ININ-Correlation-Id" then x[2] = auth end
    end
  end
  if mode == "echo" and res.status ~= 401 then
    res.status = 400
    res.body = ctx.path == "/oauth/token" and oauth_error(auth, ctx.raw_header)
      or error_body(400, auth, ctx.raw_header, auth)
    if not res.headers[1] or res.headers[1][1] ~= "Content-Type" then
      table.insert(res.headers, 1, { "Content-Type", "application/json" })
    end
  end
end

---------------------------------------------------------------- framing

local function status_line(status, version, reason)
  return (version or "HTTP/1.1") .. " " .. status .. " " .. (reason or REASONS[status] or "Status")
end

-- The status line and header lines (framing included) as a list of lines,
-- and the body as it goes on the wire. framing: "length" (Content-Length),
-- "chunked" (the header only: the body is framed by the writer) or "close"
-- (none: the body until close). A HEAD gets the GET's framing headers and no
-- body; a 204 gets neither.
local function head_lines(res, framing, version)
  local lines = { status_line(res.status, version) }
  for _, x in ipairs(res.headers) do lines[#lines + 1] = x[1] .. ": " .. x[2] end
  local body = res.body
  if res.status ~= 204 and res.status >= 200 and body then
    if framing == "length" then
      lines[#lines + 1] = "Content-Length: " .. #body
    elseif framing == "chunked" then
      lines[#lines + 1] = "Transfer-Encoding: chunked"
    end
  elseif res.status ~= 204 and not body then
    lines[#lines + 1] = "Content-Length: 0"
  end
  if res.head or res.status == 204 then body = "" end
  return lines, body or ""
end

local function head_text(lines, eol)
  eol = eol or CRLF
  return table.concat(lines, eol) .. eol .. eol
end

local function standard(res)
  local lines, body = head_lines(res, "length")
  return head_text(lines), body
end

-- The chunked body in pieces: sizes 1-7, every fifth chunk 10-31 bytes
-- (hex letters, mixed case, some with leading zeros), extensions on some;
-- pieces end inside the size lines, the data and the CRLFs.
local function chunked_pieces(body, rand)
  local pieces, i, k = {}, 1, 0
  while i <= #body do
    k = k + 1
    local size = (k % 5 == 0) and rand(10, 31) or rand(1, 7)
    size = math.min(size, #body - i + 1)
    local hex = string.format(k % 2 == 0 and "%X" or "%x", size)
    if k % 7 == 0 then hex = "0" .. hex end
    if #hex > 1 and k % 3 == 0 then hex = hex:sub(1, 1):upper() .. hex:sub(2):lower() end
    local ext = (k % 4 == 1) and ";x=y" or ""
    -- "1" | "f;x=y\r" | "\n<data>" | "<more data>\r" | "\n"
    local data = body:sub(i, i + size - 1)
    local half = math.ceil(#data / 2)
    pieces[#pieces + 1] = hex:sub(1, 1)
    pieces[#pieces + 1] = hex:sub(2) .. ext .. "\r"
    pieces[#pieces + 1] = "\n" .. data:sub(1, half)
    pieces[#pieces + 1] = data:sub(half + 1) .. "\r"
    pieces[#pieces + 1] = "\n"
    i = i + size
  end
  pieces[#pieces + 1] = "0"
  pieces[#pieces + 1] = ";x=y\r\nX-Trailer: done\r"
  pieces[#pieces + 1] = "\n\r"
  pieces[#pieces + 1] = "\n"
  return pieces
end

local ONE_MS = function() return 0.001 end

---------------------------------------------------------------- modes

-- mode -> writer(sock, res, ctx): puts the (shaped) answer on the wire.
local WRITERS = {}

function WRITERS.plain(sock, res)
  local head, body = standard(res)
  sock:send(head .. body)
end

function WRITERS.bytes(sock, res)
  local head, body = standard(res)
  send_pieces(sock, cut(head .. body, 1), ONE_MS)
end

function WRITERS.random(sock, res, ctx)
  local head, body = standard(res)
  local s, pieces, i = head .. body, {}, 1
  while i <= #s do
    local n = ctx.rand(1, 24)
    pieces[#pieces + 1] = s:sub(i, i + n - 1)
    i = i + n
  end
  send_pieces(sock, pieces, function() return ctx.rand(0, 3) / 1000 end)
end

function WRITERS.chunked(sock, res, ctx)
  local lines, body = head_lines(res, "chunked")
  local pieces = cut(head_text(lines), 16)
  if body ~= "" then
    for _, p in ipairs(chunked_pieces(body, ctx.rand)) do pieces[#pieces + 1] = p end
  end
  send_pieces(sock, pieces, ONE_MS)
end

function WRITERS.interim(sock, res)
  local head, body = standard(res)
  local pieces = {
    "HTTP/1.1 100 Con", "tinue\r", "\n\r", "\n",
    "HTTP/1.1 103 Early Hints\r\nLi", "nk: </hostile.css>; rel=preload; as=style\r\n", "\r", "\n",
  }
  for _, p in ipairs(cut(head .. body, 40)) do pieces[#pieces + 1] = p end
  send_pieces(sock, pieces, ONE_MS)
end

function WRITERS.huge_header(sock, res)
  local lines, body = head_lines(res, "length")
  table.insert(lines, 2, "X-Hostile-Padding: " .. string.rep("a", 1024 * 1024))
  send_pieces(sock, cut(head_text(lines) .. body, 64 * 1024))
end

function WRITERS.endless_line(sock)
  local piece = string.rep("a", 64 * 1024)
  if not sock:send("HTTP/1.1 200 OK\r\nX-Endless: ") then return end
  local stop = ngx.now() + MAX_WAIT
  for _ = 1, 4096 do -- 256 MiB
    if not sock:send(piece) then return end -- the client gave up
    ngx.update_time()
    if ngx.now() >= stop then return end
  end
end

function WRITERS.slow_line(sock)
  trickle(sock, "HTTP/1.1 200 OK\r\nX-Slow: " .. string.rep("a", 200), 0.1)
end

function WRITERS.many_headers(sock, res)
  local lines, body = head_lines(res, "length")
  local out = { lines[1] }
  for i = 1, 10000 do out[#out + 1] = "X-Hostile-" .. i .. ": " .. i end
  for i = 2, #lines do out[#out + 1] = lines[i] end
  send_pieces(sock, cut(head_text(out) .. body, 16 * 1024))
end

for name in pairs(RATELIMIT) do WRITERS[name] = WRITERS.plain end
for name in pairs(RETRY_AFTER) do WRITERS[name] = WRITERS.plain end
WRITERS.echo = WRITERS.plain
WRITERS.echo_ok = WRITERS.plain

function WRITERS.stall_headers(sock, res)
  if sock:send(status_line(res.status) .. CRLF) then wait_for_close(sock, MAX_WAIT) end
end

function WRITERS.stall_body(sock, res)
  local lines = { status_line(res.status) }
  for _, x in ipairs(res.headers) do lines[#lines + 1] = x[1] .. ": " .. x[2] end
  if res.status ~= 204 then lines[#lines + 1] = "Content-Length: 300" end
  local head = head_text(lines)
  local body = (res.head or res.status == 204) and "" or (res.body or ""):sub(1, 10)
  if sock:send(head .. body) then wait_for_close(sock, MAX_WAIT) end
end

function WRITERS.trickle_body(sock, res)
  local head, body = standard(res)
  if sock:send(head) then trickle(sock, body, 0.1) end
end

function WRITERS.trickle_headers(sock, res)
  local head, body = standard(res)
  if trickle(sock, head, 0.05) then sock:send(body) end
end

function WRITERS.close_early(sock, res)
  local head, body = standard(res)
  if body ~= "" then
    sock:send(head .. body:sub(1, math.floor(#body / 2)))
  else
    sock:send(head:sub(1, math.floor(#head / 2)))
  end
end

function WRITERS.garbage_status(sock, res)
  local head, body = standard(res)
  sock:send("SSH-2.0-OpenSSH_9.2p1 hostile" .. CRLF .. head:gsub("^[^\r]*\r\n", "") .. body)
end

-- odd_headers: nonsense_headers without the line that has no colon (which
-- libcurl refuses outright), so the rest is tried on libcurl too.
local function odd_lines(sock, res, no_colon)
  local lines, body = head_lines(res, "length")
  local odd = {
    no_colon and "ThisLineHasNoColon" or nil,
    "X-Spaced : v",
    "X-Folded: first",
    " continued after an obs-fold",
    "\tand again",
    "X-Bytes: a\1b\127c\255d",
    "X-Empty:",
  }
  for i = 7, 1, -1 do
    if odd[i] then table.insert(lines, 2, odd[i]) end
  end
  sock:send(head_text(lines) .. body)
end

function WRITERS.nonsense_headers(sock, res) odd_lines(sock, res, true) end
function WRITERS.odd_headers(sock, res) odd_lines(sock, res, false) end

function WRITERS.bad_content_length(sock, res)
  local lines, body = head_lines(res, "length")
  if body ~= "" then lines[#lines + 1] = "Content-Length: " .. (#body + 5) end
  sock:send(head_text(lines) .. body)
end

function WRITERS.bad_content_length_alpha(sock, res)
  local lines, body = head_lines(res, "length")
  for i, l in ipairs(lines) do
    if l:find("^Content%-Length:") then lines[i] = "Content-Length: lots" end
  end
  sock:send(head_text(lines) .. body)
end

function WRITERS.http10(sock, res)
  local lines, body = head_lines(res, "close", "HTTP/1.0")
  sock:send(head_text(lines) .. body)
end

function WRITERS.lf_only(sock, res)
  local lines, body = head_lines(res, "length")
  sock:send(head_text(lines, "\n") .. body)
end

function WRITERS.connection_close(sock, res)
  local lines, body = head_lines(res, "length")
  lines[#lines + 1] = "Connection: close"
  sock:send(head_text(lines) .. body)
end

local ODD_CASE = {
  ["Content-Type"] = "content-TYPE", ["Content-Length"] = "cOnTeNt-LeNgTh",
  ["ININ-Correlation-Id"] = "InIn-CoRrElAtIoN-iD", ["inin-ratelimit-count"] = "ININ-RATELIMIT-COUNT",
  ["inin-ratelimit-allowed"] = "Inin-Ratelimit-Allowed", ["inin-ratelimit-reset"] = "iNiN-rAtElImIt-ReSeT",
  ["Retry-After"] = "rEtRy-AfTeR",
}

function WRITERS.mixed_case(sock, res)
  local lines, body = head_lines(res, "length")
  for i = 2, #lines do
    lines[i] = lines[i]:gsub("^([^:]+):", function(name) return (ODD_CASE[name] or name:lower()) .. ":" end)
  end
  sock:send(head_text(lines) .. body)
end

function WRITERS.no_reason(sock, res)
  local lines, body = head_lines(res, "length")
  lines[1] = "HTTP/1.1 " .. res.status .. " "
  sock:send(head_text(lines) .. body)
end

local MODE_NAMES = {}
for name in pairs(WRITERS) do MODE_NAMES[#MODE_NAMES + 1] = name end
table.sort(MODE_NAMES)

---------------------------------------------------------------- entry

-- Keeps what the request carried and the status and correlation id it is
-- answered with.
local function record(ctx, res)
  local cid
  for _, x in ipairs(res.headers) do
    if x[1] == "ININ-Correlation-Id" then cid = x[2] end
  end
  dict:set(("r:%s:%d"):format(ctx.nonce, ctx.n), cjson.encode {
    n = ctx.n, method = ctx.method, path = ctx.path, query = ctx.query or cjson.null,
    authorization = ctx.authorization or cjson.null, raw_header = ctx.raw_header,
    body = ctx.body or cjson.null, mode = ctx.mode, time = ngx.now(),
    status = res.status, correlation_id = cid or cjson.null,
  })
  if ctx.issued then
    local list = cjson.decode(dict:get("i:" .. ctx.nonce) or "[]")
    list[#list + 1] = ctx.issued
    dict:set("i:" .. ctx.nonce, cjson.encode(list))
  end
end

local function raw_500(sock, message)
  local body = error_body(500, "internal.server.error", "hostile: " .. message, "hostile")
  sock:send("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body)
end

function M.handle()
  ngx.update_time()
  local uri = ngx.var.request_uri
  local mode, nonce, rest = uri:match("^/hostile/([%w_]+)/([%w_.~-]+)(/[^?]*)")
  if not mode or not WRITERS[mode] then
    ngx.status = 404
    ngx.header["Content-Type"] = "application/json"
    return ngx.say(cjson.encode { error = "no such hostile mode or URL: " .. uri })
  end
  local headers = ngx.req.get_headers(200)
  local auth = headers["authorization"]
  if type(auth) == "table" then auth = auth[1] end
  local ctx = {
    mode = mode, nonce = nonce, path = rest, query = uri:match("%?(.*)$"),
    method = ngx.req.get_method(), authorization = auth,
    raw_header = ngx.req.raw_header(),
  }
  ctx.n = dict:incr("n:" .. nonce, 1, 0)
  ctx.rand = generator(nonce .. "#" .. ctx.n)
  ctx.cid = uuid(ctx.rand)

  local sock, err = ngx.req.socket(true)
  if not sock then
    ngx.log(ngx.ERR, "hostile: no raw socket: ", err)
    return ngx.exit(500)
  end
  -- No send or read waits longer than a stall may last.
  sock:settimeout(MAX_WAIT * 1000)
  local length = tonumber(headers["content-length"])
  if length and length > 0 then
    sock:settimeout(2000)
    ctx.body = sock:receive(math.min(length, MAX_BODY))
    sock:settimeout(MAX_WAIT * 1000)
  end
  local ok, problem = pcall(function()
    local res = answer_for(ctx)
    shape(ctx, res)
    record(ctx, res)
    WRITERS[mode](sock, res, ctx)
  end)
  if not ok then
    ngx.log(ngx.ERR, "hostile: ", problem)
    raw_500(sock, tostring(problem))
  end
end

-- GET /_fake/hostile[/<nonce>] (plain JSON through nginx, not raw).
function M.control()
  local nonce = ngx.var.uri:match("^/_fake/hostile/([%w_.~-]+)$")
  ngx.header["Content-Type"] = "application/json"
  if not nonce then
    return ngx.say(cjson.encode { modes = MODE_NAMES, token_info = TOKEN_INFO, idle_timeout = IDLE_TIMEOUT })
  end
  local n = dict:get("n:" .. nonce) or 0
  local parts = {}
  for i = 1, n do parts[#parts + 1] = dict:get(("r:%s:%d"):format(nonce, i)) or "null" end
  ngx.say('{"count":', n, ',"requests":[', table.concat(parts, ","), '],"tokens":',
    dict:get("i:" .. nonce) or "[]", "}")
end

return M

-- The OpenResty transport: the same calls as the C core's client, over
-- nginx cosockets (ngx.socket.tcp), so a request phase never blocks its
-- worker. A small HTTP/1.1 client of our own: TLS verified through
-- sslhandshake, connections reused through setkeepalive pools, one
-- deadline per attempt, the body capped at max_body. It returns the core's
-- result tables, with libcurl's code names, so the layers above cannot
-- tell the transports apart. Path segments and Basic credentials are
-- encoded by the C core's own functions.
local core = require "genesys.tokens.core"

local ngx = ngx -- a global inside OpenResty only

local transport = {}

local Ngx = {}
Ngx.__index = Ngx

local KEEPALIVE_MS = 60 * 1000 -- how long an idle pooled connection lives
local POOL_SIZE = 16 -- idle connections kept per worker and origin

-- scheme://host[:port][/prefix] -> { scheme, host, port, authority, prefix, pool }
local function target_of(url)
  local scheme, authority, prefix = url:match("^(%a+)://([^/]+)(.*)$")
  local host, port = authority:match("^%[(.+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return {
    scheme = scheme, host = host, port = port, authority = authority, prefix = prefix,
    -- "localhost" is loopback by definition (RFC 6761): no resolver needed,
    -- and TLS still verifies the certificate for that name.
    address = host:lower() == "localhost" and "127.0.0.1" or host,
    origin = scheme .. "://" .. authority,
    pool = ("genesys.tokens:%s:%s:%d"):format(scheme, host, port),
  }
end

--- A transport for validated settings (see options.lua).
function transport.new(s)
  local agent = ("genesys-tokens/%s ngx_lua/%s"):format(core._VERSION, tostring(ngx.config.ngx_lua_version))
  local lines = { "Accept: application/json", "User-Agent: " .. (s.user_agent and s.user_agent .. " " or "") .. agent }
  for _, line in ipairs(s.headers) do lines[#lines + 1] = line end
  return setmetatable({
    api = target_of(s.base_url),
    login_target = target_of(s.login_url),
    timeout = s.timeout,
    connect_timeout = math.min(s.connect_timeout, s.timeout),
    max_body = s.max_body,
    fixed_headers = table.concat(lines, "\r\n") .. "\r\n",
    is_closed = false,
  }, Ngx)
end

local function now()
  ngx.update_time()
  return ngx.now()
end

local function failed(res, kind, code, message)
  res.kind, res.code, res.message = kind, code, message
  return res
end

-- A socket error as the core would report it.
local function socket_failure(res, err, stage)
  if err == "timeout" then
    return failed(res, "timeout", "CURLE_OPERATION_TIMEDOUT", stage .. " timed out")
  end
  if stage == "connect" then
    if err:find("resolve", 1, true) or err:find("resolver", 1, true) then
      return failed(res, "network", "CURLE_COULDNT_RESOLVE_HOST", "could not resolve host: " .. err)
    end
    return failed(res, "network", "CURLE_COULDNT_CONNECT", "could not connect: " .. err)
  end
  if stage == "handshake" then
    local code = err:find("verify", 1, true) and "CURLE_PEER_FAILED_VERIFICATION" or "CURLE_SSL_CONNECT_ERROR"
    return failed(res, "tls", code, "TLS handshake failed: " .. err)
  end
  if stage == "send" then return failed(res, "network", "CURLE_SEND_ERROR", "send failed: " .. err) end
  if stage == "status" then
    if err == "closed" then return failed(res, "network", "CURLE_GOT_NOTHING", "empty reply from server") end
    return failed(res, "network", "CURLE_RECV_ERROR", "receive failed: " .. err)
  end
  if err == "closed" then
    return failed(res, "network", "CURLE_PARTIAL_FILE", "connection closed before the whole response arrived")
  end
  return failed(res, "network", "CURLE_RECV_ERROR", "receive failed: " .. err)
end

-- A failure while reading the response: the reader's own reasons, or the
-- socket's at that stage.
local function read_failure(res, err, stage, max_body)
  res.status = nil
  if err == "too_large" then
    return failed(res, "too_large", "too_large", ("response body exceeds max_body (%d bytes)"):format(max_body))
  end
  if err == "headers too large" then
    return failed(res, "too_large", "too_large", ("response headers exceed %d bytes"):format(core.header_block_max))
  end
  if err == "bad chunk" then return failed(res, "network", "CURLE_RECV_ERROR", "malformed chunked body") end
  if err == "bad length" then
    return failed(res, "network", "CURLE_WEIRD_SERVER_REPLY", "invalid Content-Length in the response")
  end
  if err == "not http" then return failed(res, "network", "CURLE_WEIRD_SERVER_REPLY", "not an HTTP response") end
  if err == "only interim" then
    return failed(res, "network", "CURLE_WEIRD_SERVER_REPLY", "no final response after interim ones")
  end
  return socket_failure(res, err, stage)
end

-- Keeps what a response header line tells: the core reads it (the same
-- rules as for libcurl's lines), this transport keeps what only it needs.
local function take_header(res, meta, line)
  local field, value, raw = core.header(line)
  if field == "content_length" then
    -- Present but not a number, or two that disagree: no body length to
    -- trust (libcurl refuses such a response too).
    if not value or (meta.content_length and meta.content_length ~= value) then meta.bad_length = true end
    meta.content_length = value
  elseif field == "retry_after" then
    res.retry_after, res.retry_after_raw = value, raw
  elseif field then
    res[field] = value
  else
    local name, rest = line:match("^([%w-]+):[ \t]*(.-)[ \t]*$")
    name = name and name:lower()
    if name == "transfer-encoding" then
      meta.chunked = rest:lower():find("chunked", 1, true) ~= nil
    elseif name == "connection" then
      meta.close = rest:lower():find("close", 1, true) ~= nil
    end
  end
end

-- Reading a response, on the cosocket's own buffered reads: lines with a
-- receiveuntil("\n") iterator asked for no more than a line may hold (the
-- header block's bytes left), sized bodies and chunks with receive(n), a
-- body without a length with receiveany up to max_body.

-- The next line without its line end, of at most `max` bytes (nil and
-- "too long" past that).
local function read_line(lines, max)
  local first, more, have = nil, nil, 0
  while true do
    local data, err = lines(max - have + 1)
    if err then return nil, err end
    if not data then break end -- the line end
    have = have + #data
    if have > max then return nil, "too long" end
    if not first then
      first = data
    elseif data ~= "" then
      more = more or { first }
      more[#more + 1] = data
    end
  end
  local line = more and table.concat(more) or first or ""
  if line:sub(-1) == "\r" then line = line:sub(1, -2) end
  return line
end

-- Everything until the server closes, at most max bytes, into parts.
local function read_to_close(sock, max, parts)
  local have = 0
  while true do
    local data, err = sock:receiveany(65536)
    if not data then
      if err == "closed" then return true end
      return nil, err
    end
    have = have + #data
    if have > max then return nil, "too_large" end
    parts[#parts + 1] = data
  end
end

local CHUNK_LINE_MAX = 4096 -- a chunk size and its extensions

-- A chunked body into parts: chunk sizes (extensions allowed), data,
-- trailers (read by header_line, with the header block's bytes).
local function read_chunked(sock, lines, max_body, parts, header_line)
  local total = 0
  for _ = 1, max_body + 1 do -- bounded: each chunk but the last has a byte at least
    local line, err = read_line(lines, CHUNK_LINE_MAX)
    if not line then return nil, err == "too long" and "bad chunk" or err end
    local size = tonumber(line:match("^%s*(%x+)%s*$") or line:match("^%s*(%x+)%s*;"), 16)
    if not size then return nil, "bad chunk" end
    if size == 0 then
      repeat
        line, err = header_line()
        if not line then return nil, err end
      until line == ""
      return true
    end
    total = total + size
    if total > max_body then return nil, "too_large" end
    local data
    data, err = sock:receive(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    line, err = read_line(lines, 1)
    if not line then return nil, err == "too long" and "bad chunk" or err end
    if line ~= "" then return nil, "bad chunk" end
  end
  return nil, "bad chunk"
end

local MAX_INTERIM = 10 -- 1xx responses skipped before the final one

-- Reads the response to a request into res: true and the framing (meta),
-- or nil, the reason and the stage it failed at.
local function read_response(sock, res, method, max_body)
  local lines = sock:receiveuntil("\n")
  -- The header block, interim responses and trailers included, is bounded
  -- in bytes as the core bounds libcurl's.
  local header_left = core.header_block_max
  local function header_line()
    local line, e = read_line(lines, header_left)
    if not line then return nil, e == "too long" and "headers too large" or e end
    header_left = header_left - #line - 2
    return line
  end

  local meta, version, status
  for interim = 0, MAX_INTERIM do
    local line, err = header_line()
    if not line then return nil, err, interim == 0 and "status" or "headers" end
    version, status = line:match("^HTTP/(%d%.%d) (%d%d%d)")
    if not status then return nil, "not http", "status" end
    -- A new response: what an interim one said does not count.
    res.correlation_id, res.retry_after, res.retry_after_raw = nil, nil, nil
    res.ratelimit_count, res.ratelimit_allowed, res.ratelimit_reset = nil, nil, nil
    meta = { close = version == "1.0" }
    repeat
      line, err = header_line()
      if not line then return nil, err, "headers" end
      if line ~= "" then take_header(res, meta, line) end
    until line == ""
    if status:sub(1, 1) ~= "1" then break end
  end
  if status:sub(1, 1) == "1" then return nil, "only interim", "status" end
  res.status = tonumber(status)

  local parts, ok, err = {}, true, nil
  if method ~= "HEAD" and res.status ~= 204 and res.status ~= 304 then
    if meta.chunked then
      ok, err = read_chunked(sock, lines, max_body, parts, header_line)
    elseif meta.bad_length then
      ok, err = nil, "bad length"
    elseif meta.content_length then
      if meta.content_length > max_body then
        ok, err = nil, "too_large" -- refused from the headers, before any body
      elseif meta.content_length > 0 then
        parts[1], err = sock:receive(meta.content_length)
        ok = parts[1] ~= nil
      end
    else
      meta.close = true
      ok, err = read_to_close(sock, max_body, parts)
    end
  end
  if not ok then return nil, err, "body" end
  res.body = table.concat(parts)
  return true, meta
end

-- read_response under the attempt's deadline. A cosocket's read timeout
-- restarts whenever bytes arrive, so a response sent a byte at a time
-- would outlast any timeout of its reads: the reading runs in a light
-- thread of its own, killed at the deadline (which closes its socket).
local function read_before(deadline, sock, res, method, max_body)
  local semaphore = require "ngx.semaphore"
  local done, out = semaphore.new(), nil
  local reader = ngx.thread.spawn(function()
    out = { pcall(read_response, sock, res, method, max_body) }
    done:post()
  end)
  if not done:wait(math.max(0.001, deadline - now())) and not out then
    ngx.thread.kill(reader)
    return nil, "timeout", "response"
  end
  ngx.thread.wait(reader)
  if not out[1] then error(out[2], 0) end -- a bug, not the network
  return out[2], out[3], out[4]
end

-- Sends one request and reads its response on a (possibly pooled)
-- connection. `stale` is true when a reused connection turned out closed
-- before any reply byte: the caller then tries once on a fresh one.
local function exchange(self, target, method, path, authorization, body, content_type, res)
  local deadline = now() + self.timeout
  local sock = ngx.socket.tcp()
  local timeout_ms = math.max(1, math.floor(self.timeout * 1000))
  sock:settimeouts(math.max(1, math.floor(self.connect_timeout * 1000)), timeout_ms, timeout_ms)
  local ok, err = sock:connect(target.address, target.port, { pool = target.pool })
  if not ok then return socket_failure(res, err, "connect") end
  local reused = (sock:getreusedtimes() or 0) > 0
  if target.scheme == "https" and not reused then
    ok, err = sock:sslhandshake(nil, target.host, true)
    if not ok then
      sock:close()
      return socket_failure(res, err, "handshake")
    end
  end

  local head = { method, " ", target.prefix, path, " HTTP/1.1\r\nHost: ", target.authority, "\r\n",
    "Authorization: ", authorization, "\r\n", self.fixed_headers }
  if body then
    head[#head + 1] = ("Content-Type: %s\r\nContent-Length: %d\r\n"):format(content_type, #body)
  end
  head[#head + 1] = "\r\n"
  if body then head[#head + 1] = body end
  ok, err = sock:send(head)
  if not ok then
    sock:close()
    if reused then return nil, true end
    return socket_failure(res, err, "send")
  end

  local meta, stage
  ok, meta, stage = read_before(deadline, sock, res, method, self.max_body)
  if not ok then
    sock:close()
    if reused and stage == "status" and meta == "closed" then return nil, true end
    return read_failure(res, meta, stage, self.max_body)
  end
  -- setkeepalive refuses a connection with bytes past the body (a confused
  -- server): that one is closed.
  if meta.close or not sock:setkeepalive(KEEPALIVE_MS, POOL_SIZE) then sock:close() end
  return res
end

local function request(self, target, method, path, authorization, body, content_type)
  if self.is_closed then error("attempt to use a closed genesys.tokens client", 3) end
  local url = target.origin .. target.prefix .. path
  for _ = 1, 2 do
    local res = { method = method, url = url }
    local done, stale = exchange(self, target, method, path, authorization, body, content_type, res)
    if done then return done end
    if not stale then break end
  end
  return failed({ method = method, url = url }, "network", "CURLE_GOT_NOTHING", "empty reply from server")
end

local function bearer(token)
  local problem = core.token_problem(token)
  if problem then error(problem, 3) end
  return "Bearer " .. token
end

local TOKENS = "/api/v2/tokens/"

function Ngx:me(token, preserve_idle_ttl)
  return request(self, self.api, "GET", TOKENS .. (preserve_idle_ttl and "me?preserveIdleTTL=true" or "me"),
    bearer(token))
end

function Ngx:verify(token)
  return request(self, self.api, "HEAD", TOKENS .. "me", bearer(token))
end

function Ngx:revoke_me(token)
  return request(self, self.api, "DELETE", TOKENS .. "me", bearer(token))
end

function Ngx:revoke(token, user_id)
  local problem = type(user_id) ~= "string" and "user id must be a string" or core.user_id_problem(user_id)
  if problem then error(problem, 2) end
  return request(self, self.api, "DELETE", TOKENS .. core.escape_segment(user_id), bearer(token))
end

function Ngx:idle_timeout(token)
  return request(self, self.api, "GET", TOKENS .. "timeout", bearer(token))
end

function Ngx:set_idle_timeout(token, json)
  return request(self, self.api, "PUT", TOKENS .. "timeout", bearer(token), json, "application/json")
end

function Ngx:login(client_id, client_secret)
  local problem = core.credentials_problem(client_id, client_secret)
  if problem then error(problem, 2) end
  return request(self, self.login_target, "POST", "/oauth/token",
    "Basic " .. core.base64(client_id .. ":" .. client_secret),
    "grant_type=client_credentials", "application/x-www-form-urlencoded")
end

--- Pooled connections belong to nginx; closing marks this client unusable.
function Ngx:close()
  self.is_closed = true
end

function Ngx:closed()
  return self.is_closed
end

transport.now = now

return transport

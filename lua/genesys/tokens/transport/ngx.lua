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
    return failed(res, "network", "CURLE_PARTIAL_FILE", "connection closed before the whole body arrived")
  end
  return failed(res, "network", "CURLE_RECV_ERROR", "receive failed: " .. err)
end

local function too_large(res, max_body)
  return failed(res, "too_large", "too_large", ("response body exceeds max_body (%d bytes)"):format(max_body))
end

-- Keeps what the core keeps of a response header line.
local function take_header(res, meta, name, value)
  name = name:lower()
  if name == "inin-correlation-id" then
    local visible = value:gsub("[^\33-\126 ]", ""):sub(1, 127)
    res.correlation_id = visible ~= "" and visible or nil
  elseif name == "retry-after" then
    res.retry_after_raw = value:gsub("[^\33-\126 ]", ""):sub(1, 63)
    res.retry_after = core.parse_count(value)
  elseif name == "content-length" then
    meta.content_length = core.parse_count(value)
  elseif name == "transfer-encoding" then
    meta.chunked = value:lower():find("chunked", 1, true) ~= nil
  elseif name == "connection" then
    meta.close = value:lower():find("close", 1, true) ~= nil
  elseif name == "inin-ratelimit-count" then
    res.ratelimit_count = core.parse_count(value)
  elseif name == "inin-ratelimit-allowed" then
    res.ratelimit_allowed = core.parse_count(value)
  elseif name == "inin-ratelimit-reset" then
    res.ratelimit_reset = core.parse_count(value)
  end
end

-- Reads a response under one deadline for the whole attempt. A cosocket's
-- read timeout restarts whenever bytes arrive, so a body that trickles a
-- byte at a time would never time out on sock:receive(n); reading with
-- receiveany and checking the deadline between reads bounds the total.
local Reader = {}
Reader.__index = Reader

local MAX_LINE = 16 * 1024

local function reader(sock, deadline)
  return setmetatable({ sock = sock, deadline = deadline, buf = "" }, Reader)
end

-- Appends what arrives next to the buffer; nil and an error when nothing can.
function Reader:fill()
  local left = self.deadline - now()
  if left <= 0 then return nil, "timeout" end
  self.sock:settimeout(math.max(1, math.ceil(left * 1000)))
  local data, err = self.sock:receiveany(64 * 1024)
  if not data then return nil, err end
  self.buf = self.buf .. data
  return true
end

-- The next line, without its CRLF.
function Reader:line()
  for _ = 1, MAX_LINE do
    local i = self.buf:find("\n", 1, true)
    if i then
      local line = self.buf:sub(1, i - 1):gsub("\r$", "")
      self.buf = self.buf:sub(i + 1)
      return line
    end
    if #self.buf > MAX_LINE then return nil, "line too long" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
  return nil, "line too long"
end

-- Exactly n bytes.
function Reader:bytes(n)
  local parts, have = { self.buf }, #self.buf
  while have < n do
    local ok, err = self:fill()
    if not ok then return nil, err end
    parts[#parts + 1] = self.buf
    have = have + #self.buf
  end
  local all = table.concat(parts)
  self.buf = all:sub(n + 1)
  return all:sub(1, n)
end

-- Everything until the server closes, at most max bytes.
function Reader:rest(max)
  local parts, have = { self.buf }, #self.buf
  self.buf = ""
  while true do
    if have > max then return nil, "too_large" end
    local ok, err = self:fill()
    if not ok then
      if err == "closed" then return table.concat(parts) end
      return nil, err
    end
    parts[#parts + 1] = self.buf
    have = have + #self.buf
    self.buf = ""
  end
end

local function read_chunked(r, max_body)
  local parts, total = {}, 0
  for _ = 1, 1e6 do -- bounded: each chunk is at least one byte of max_body
    local line, err = r:line()
    if not line then return nil, err end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return nil, "bad chunk" end
    if size == 0 then
      repeat -- trailers, up to the blank line
        line, err = r:line()
        if not line then return nil, err end
      until line == ""
      return table.concat(parts)
    end
    total = total + size
    if total > max_body then return nil, "too_large" end
    local data
    data, err = r:bytes(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    line, err = r:line()
    if not line then return nil, err end
  end
  return nil, "bad chunk"
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

  local r = reader(sock, deadline)
  local line
  line, err = r:line()
  if not line then
    sock:close()
    if reused and err == "closed" then return nil, true end
    return socket_failure(res, err, "status")
  end
  local version, status = line:match("^HTTP/(%d%.%d) (%d%d%d)")
  if not status then
    sock:close()
    return failed(res, "network", "CURLE_WEIRD_SERVER_REPLY", "not an HTTP response")
  end
  res.status = tonumber(status)

  local meta = { close = version == "1.0" }
  for _ = 1, 200 do -- a bounded header block
    line, err = r:line()
    if not line then
      sock:close()
      return socket_failure(res, err, "headers")
    end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then take_header(res, meta, name, value) end
  end

  local text = ""
  local no_body = method == "HEAD" or res.status == 204 or res.status == 304 or res.status < 200
  if not no_body then
    if meta.chunked then
      text, err = read_chunked(r, self.max_body)
    elseif meta.content_length then
      if meta.content_length > self.max_body then
        text, err = nil, "too_large" -- refused from the headers, before any body
      elseif meta.content_length > 0 then
        text, err = r:bytes(meta.content_length)
      end
    else
      meta.close = true
      text, err = r:rest(self.max_body)
    end
  end
  if not text then
    sock:close()
    res.status = nil
    if err == "too_large" then return too_large(res, self.max_body) end
    if err == "bad chunk" then return failed(res, "network", "CURLE_RECV_ERROR", "malformed chunked body") end
    return socket_failure(res, err, "body")
  end
  res.body = text
  -- Bytes past the body mean a confused server: do not reuse the connection.
  if meta.close or r.buf ~= "" then sock:close() else sock:setkeepalive(KEEPALIVE_MS, POOL_SIZE) end
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

-- A verdict on one token, as the gate caches it: what Genesys Cloud said
-- about it under the gate's policy (orgs, OAuth clients, scopes), until
-- when it is fresh, until when it may serve stale, and the identity the
-- upstream is told. Plain Lua: no nginx needed.
--
-- The cached text is   kind .. fresh_until .. stale_until .. identity
-- with both times as 14 characters ("%014.3f", seconds since the epoch)
-- and the identity as "org\tclient\thome_org\tscopes", so that the warm
-- path reads it with string.byte, sub and find alone.
local verdict = {}

verdict.ALLOWED = "A"
verdict.FORBIDDEN = "F"          -- its organization or OAuth client is not allowed
verdict.INSUFFICIENT_SCOPE = "S" -- a required scope is missing
verdict.REFUSED = "R"            -- Genesys Cloud answered 401

local TIME_WIDTH = 14
local IDENTITY_AT = 2 + 2 * TIME_WIDTH

-- Clamped, so that every stamp has its 14 characters (a date Genesys
-- would never send, before 1653 or past 2286, must not shift the fields).
local function stamp(t) return ("%014.3f"):format(math.max(0, math.min(t, 9999999999.999))) end

-- Seconds since the epoch of an ISO 8601 UTC date-time as Genesys sends
-- them ("2031-01-01T12:00:00.000Z", or with a +hh:mm offset), or nil.
function verdict.parse_date(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, zone =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  if frac == "." then return nil end
  local offset = 0
  if zone ~= "Z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "+" and 1 or -1)
  end
  -- Days from 1970-01-01 to the civil date (H. Hinnant's algorithm).
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60 + sec + (tonumber("0" .. frac) or 0) - offset
end

-- An id or scope the upstream may be told: a string without control
-- characters (so never the tab that separates the cached fields).
local function usable(value)
  if type(value) == "string" and value ~= "" and #value <= 1024 and not value:find("%c") then return value end
  return nil
end

local function id_of(entity)
  return type(entity) == "table" and usable(entity.id) or nil
end

local function scope_set(info)
  local set, list = {}, {}
  if type(info.authorizedScope) == "table" then
    for _, v in ipairs(info.authorizedScope) do
      if usable(v) and not v:find(" ", 1, true) then
        set[v] = true
        list[#list + 1] = v
      end
    end
  end
  return set, table.concat(list, " ")
end

--- The verdict on a token Genesys Cloud accepted (`info`, its TokenInfo)
-- under settings `s` at time `now`: the text to cache and the seconds to
-- keep it (nil: do not cache), or nil and a problem when the TokenInfo
-- cannot be judged.
function verdict.judge(info, s, now)
  if type(info) ~= "table" then return nil, "TokenInfo is not an object" end
  local org = id_of(info.organization)
  if not org then return nil, "TokenInfo without an organization id" end
  local client = id_of(info.OAuthClient) or ""
  local scopes, scope_text = scope_set(info)

  local kind = verdict.ALLOWED
  if (s.org_set and not s.org_set[org]) or (s.client_set and not s.client_set[client]) then
    kind = verdict.FORBIDDEN
  elseif s.scopes then
    for _, want in ipairs(s.scopes) do
      if not scopes[want] then kind = verdict.INSUFFICIENT_SCOPE break end
    end
  end

  -- Never past the moment the token idles out, fresh or stale.
  local fresh = now + s.ttl
  local stale = fresh + s.stale_ttl
  local idles = verdict.parse_date(info.dateTokenIdles)
  if idles then
    fresh, stale = math.min(fresh, idles), math.min(stale, idles)
  end
  local text = table.concat { kind, stamp(fresh), stamp(stale), org, "\t", client, "\t",
    id_of(info.homeOrganization) or "", "\t", scope_text }
  local keep = stale - now
  return text, keep > 0 and keep or nil
end

--- The verdict on a token Genesys Cloud refused, and the seconds to keep it.
function verdict.refused(s, now)
  local until_ = now + s.negative_ttl
  return verdict.REFUSED .. stamp(until_) .. stamp(until_), s.negative_ttl > 0 and s.negative_ttl or nil
end

--- The kind of a cached text, and its fresh and stale limits.
function verdict.read(text)
  return text:sub(1, 1), tonumber(text:sub(2, 1 + TIME_WIDTH)), tonumber(text:sub(2 + TIME_WIDTH, 1 + 2 * TIME_WIDTH))
end

--- The identity in a cached text: org, OAuth client, home org, scopes
-- (empty strings where Genesys Cloud reported none).
function verdict.identity(text)
  local a = text:find("\t", IDENTITY_AT, true)
  local b = text:find("\t", a + 1, true)
  local c = text:find("\t", b + 1, true)
  return text:sub(IDENTITY_AT, a - 1), text:sub(a + 1, b - 1), text:sub(b + 1, c - 1), text:sub(c + 1)
end

return verdict

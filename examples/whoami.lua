-- Who am I? Prints the TokenInfo of GENESYSCLOUD_ACCESS_TOKEN readably:
-- organization, home organization, OAuth client and scopes.
--
--   GENESYSCLOUD_ACCESS_TOKEN=... GENESYSCLOUD_REGION=eu-west-1 lua5.4 examples/whoami.lua
local tokens = require "genesys.tokens"

local info, err = tokens.me { preserve_idle_ttl = true } -- looking is not activity
if not info then
  io.stderr:write("whoami: ", tostring(err), "\n")
  os.exit(1)
end

local function entity(e)
  if not e then return "(none)" end
  return ("%s (%s)"):format(e.name or "?", e.id or "?")
end

local client = info.OAuthClient or {}
print("Organization:       " .. entity(info.organization))
print("Home organization:  " .. entity(info.homeOrganization))
if info.clonedUser then
  print(("Cloned from user:   %s in organization %s"):format(info.clonedUser.id or "?",
    info.clonedUser.organization and info.clonedUser.organization.id or "?"))
end
print("OAuth client:       " .. entity(client))
print("  grant type:       " .. (client.authorizedGrantType or "?"))
print("  state:            " .. (client.state or "?"))
print("Scopes:             " .. (#(info.authorizedScope or {}) > 0
  and table.concat(info.authorizedScope, ", ") or "(none)"))
if info.dateTokenIdles then print("Token idles at:     " .. info.dateTokenIdles) end

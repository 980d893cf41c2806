-- Ends every session of a user (an administrator's incident response),
-- using GENESYSCLOUD_ACCESS_TOKEN, which needs the oauth:token:delete
-- permission. Given one of the user's tokens too, it shows that token
-- working before and refused after.
--
--   lua5.4 examples/revoke_user.lua USER_ID [USER_TOKEN]
local tokens = require "genesys.tokens"

local user_id, user_token = arg[1], arg[2]
if not user_id or user_id == "" then
  io.stderr:write("usage: revoke_user.lua USER_ID [USER_TOKEN]\n")
  os.exit(2)
end

local function show_user_token(when)
  if not user_token then return end
  local info, err = tokens.me { access_token = user_token, preserve_idle_ttl = true }
  if info then
    print(("%-7s the user's token works (organization %s)"):format(when,
      info.organization and info.organization.name or "?"))
  else
    print(("%-7s the user's token is refused: %s"):format(when, tostring(err)))
  end
end

show_user_token("Before:")
local ok, err = tokens.revoke(user_id)
if not ok then
  io.stderr:write("revoke_user: ", tostring(err), "\n")
  os.exit(1)
end
print("Revoked every token of user " .. user_id)
show_user_token("After:")

--- genesys.tokens: the Genesys Cloud Platform API "Tokens" resource.
--
--   local tokens = require "genesys.tokens"
--   local info, err = tokens.me()          -- who am I (TokenInfo table)
--   local ok, err = tokens.revoke(user_id) -- end every session of a user
--
-- See README.md for the options and the error model.
local client = require "genesys.tokens.client"
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local options = require "genesys.tokens.options"
local regions = require "genesys.tokens.regions"

local tokens = {
  _VERSION = core._VERSION,
  errors = errors,
  regions = regions,
}

-- The client module-level calls use: built from the environment on first
-- use, replaced by tokens.configure.
local default_client

local function default(level)
  if not default_client then
    default_client = client.new(options.with_environment({}), level + 1)
  end
  return default_client
end

--- A new client; the environment is not read (see tokens.configure).
function tokens.new(opts)
  local c = client.new(opts, 2)
  return c
end

--- Replaces the default client, closing the previous one. Options not
-- given are taken from the GENESYSCLOUD_* environment variables.
function tokens.configure(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("genesys.tokens: options must be a table, got " .. type(opts), 2)
  end
  local c = client.new(options.with_environment(opts), 2)
  if default_client then default_client:close() end
  default_client = c
  return c
end

--- GET /api/v2/tokens/me: the caller's TokenInfo.
function tokens.me(opts)
  local info, err = client.run(default(2), "me", opts, nil, 2)
  return info, err
end

--- HEAD /api/v2/tokens/me: true for a valid token, false, err when the
-- server says 401, nil, err for any other failure.
function tokens.verify(opts)
  local ok, err = client.run(default(2), "verify", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/me: log this token out.
function tokens.revoke_me(opts)
  local ok, err = client.run(default(2), "revoke_me", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/{userId}: revoke every token of a user.
function tokens.revoke(user_id, opts)
  local ok, err = client.run(default(2), "revoke", opts, user_id, 2)
  return ok, err
end

--- GET /api/v2/tokens/timeout: the organization's idle-token timeout.
function tokens.idle_timeout(opts)
  local t, err = client.run(default(2), "idle_timeout", opts, nil, 2)
  return t, err
end

--- PUT /api/v2/tokens/timeout with an IdleTokenTimeout table.
function tokens.set_idle_timeout(value, opts)
  local t, err = client.run(default(2), "set_idle_timeout", opts, value, 2)
  return t, err
end

--- Revokes many users' tokens with the default client (see client:revoke_many).
function tokens.revoke_many(user_ids, opts)
  local results, err = client.revoke_many(default(2), user_ids, opts, 2)
  return results, err
end

--- The last HTTP response of the default client (see client:last_response).
function tokens.last_response()
  return default_client and default_client:last_response() or nil
end

return tokens

--- The Genesys Cloud Platform API "Tokens" resource: who an access token
-- belongs to, log it out, end every session of a user.
--
-- The module-level calls (`me`, `revoke`, ...) use a default client, built
-- on first use from the `GENESYSCLOUD_*` environment variables (a bad value
-- there raises at that first call; see `configure`). `new` makes a client
-- of your own, with the same calls as methods (see `genesys.tokens.client`).
-- README.md has every option.
--
-- Errors: misuse (a wrong type, an unknown option, a bad user id or token,
-- a call on a closed client) raises a Lua error at the caller. Whatever goes
-- wrong at run time returns `nil, err`, where `err` is an error object (see
-- `genesys.tokens.errors`). No error, log entry or result holds a secret.
--
-- `tokens._VERSION` is the library's version (a string), `tokens.errors`
-- the `genesys.tokens.errors` module, and `tokens.regions.names()` the
-- region names the `region` option knows.
-- @module genesys.tokens
-- @usage
-- local tokens = require "genesys.tokens"
-- local info, err = tokens.me()          -- who am I (a TokenInfo table)
-- if not info then error(tostring(err)) end
-- print(info.organization.name, info.OAuthClient.name)
-- local ok, err = tokens.revoke(user_id) -- end every session of a user
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

--- A new client of your own. Reads no `GENESYSCLOUD_*` variable: what
-- `opts` says is what it uses (libcurl's proxy variables aside).
-- @tparam[opt] table opts client options: `access_token`, or `client_id`
-- and `client_secret`; `region`, `base_url`, `login_url`, `gateway`,
-- `allow_http`, `timeout`, `connect_timeout`, `ca_file`, `proxy`,
-- `no_proxy`, `user_agent`, `headers`, `max_body`, `retry`, `transport`,
-- `allow_blocking`, `log_level`, `logger`, `log_bodies` (README's Client
-- options). A client without credentials is made; its calls return an
-- `auth` error.
-- @treturn genesys.tokens.client.Client the client (never `nil`)
-- @raise on an unknown option, a wrong type or an impossible value
-- @usage local client = tokens.new { region = "eu-west-1", client_id = id, client_secret = secret }
-- @see genesys.tokens.client
function tokens.new(opts)
  local c = client.new(opts, 2)
  return c
end

--- Replaces the default client the module-level calls use. What `opts`
-- leaves out comes from the `GENESYSCLOUD_*` environment variables
-- (credentials given in `opts` replace all of the environment's, and so
-- does a `region`, `base_url` or `gateway`). The previous default client is
-- closed once the new one is made; a bad `opts` leaves it in place.
-- @tparam[opt] table opts client options, as for `new`
-- @treturn genesys.tokens.client.Client the new default client
-- @raise when `opts` is not a table, or on a bad option (as `new`)
function tokens.configure(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("genesys.tokens: options must be a table, got " .. type(opts), 2)
  end
  local c = client.new(options.with_environment(opts), 2)
  if default_client then default_client:close() end
  default_client = c
  return c
end

--- GET /api/v2/tokens/me: the TokenInfo of the token in use.
-- @tparam[opt] table opts call options: `access_token` (instead of the
-- client's), `preserve_idle_ttl` (true: looking does not reset the token's
-- idle timer), `raw` (true: the JSON text as sent, once checked to be an object)
-- @treturn[1] table the TokenInfo (`organization`, `homeOrganization`,
-- `authorizedScope`, `OAuthClient`, ... as the API names them), or a string with `raw`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on an unknown call option, a wrong type or an unusable `access_token`
function tokens.me(opts)
  local info, err = client.run(default(2), "me", opts, nil, 2)
  return info, err
end

--- HEAD /api/v2/tokens/me: is the token valid?
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] boolean `true` for a valid token
-- @treturn[2] boolean `false` when the API answers 401 (an invalid token)
-- @treturn[2] genesys.tokens.errors.Error err
-- @treturn[3] nil for any other failure (Genesys Cloud unreachable, ...)
-- @treturn[3] genesys.tokens.errors.Error err
-- @raise on an unknown call option, a wrong type or an unusable `access_token`
function tokens.verify(opts)
  local ok, err = client.run(default(2), "verify", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/me: log this token out.
-- @tparam[opt] table opts call options: `access_token` (the token to log out)
-- @treturn[1] boolean `true`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on an unknown call option, a wrong type or an unusable `access_token`
function tokens.revoke_me(opts)
  local ok, err = client.run(default(2), "revoke_me", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/{userId}: revoke every token of a user.
-- @string user_id the user's id, sent as one percent-encoded path segment
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] boolean `true`
-- @treturn[2] nil on failure (an unknown user is the API's 404)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `user_id` is not a string, is empty, longer than 1024 bytes,
-- holds a control character, or is `"me"`, `"timeout"`, `"."` or `".."` (any case);
-- on a bad call option
function tokens.revoke(user_id, opts)
  local ok, err = client.run(default(2), "revoke", opts, user_id, 2)
  return ok, err
end

--- GET /api/v2/tokens/timeout: the organization's idle-token timeout.
-- @tparam[opt] table opts call options: `access_token`, `raw` (true: the
-- JSON text as sent)
-- @treturn[1] table the IdleTokenTimeout (`idleTokenTimeoutSeconds`,
-- `enableIdleTokenTimeout`, ...), or a string with `raw`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on an unknown call option, a wrong type or an unusable `access_token`
function tokens.idle_timeout(opts)
  local t, err = client.run(default(2), "idle_timeout", opts, nil, 2)
  return t, err
end

--- PUT /api/v2/tokens/timeout: sets the organization's idle-token timeout.
-- @tparam table value the IdleTokenTimeout fields: `idleTokenTimeoutSeconds`
-- (whole seconds), `enableIdleTokenTimeout`, `inactivityTimeoutUnit`,
-- `inactivityTimeoutGroupsEnabled`, `inactivityTimeoutGroupBundles` (a list
-- of `{ priority, timeoutSeconds, inactivityTimeoutUnit, groups }`)
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] table the IdleTokenTimeout the API stored
-- @treturn[2] nil on failure; a value out of the API's range is its 400
-- (`err.code == "bad.request"`)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `value` is not a table, has an unknown field or a field of
-- the wrong type; on a bad call option
function tokens.set_idle_timeout(value, opts)
  local t, err = client.run(default(2), "set_idle_timeout", opts, value, 2)
  return t, err
end

--- Revokes the tokens of many users at once, with the default client:
-- @{genesys.tokens.client.Client:revoke_many|Client:revoke_many} has the details.
-- @tparam {string,...} user_ids the user ids (a list)
-- @tparam[opt] table opts `concurrency`, `on_progress`, `access_token`, `deadline`
-- @treturn[1] table the results, one per input, and their counts
-- @treturn[2] nil when the run cannot start (no credentials, a failed login,
-- an nginx phase where it would block)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `user_ids` is not a table, on a bad option, and again for an
-- error raised inside the run (Ctrl-C, an `on_progress` that raised)
function tokens.revoke_many(user_ids, opts)
  local results, err = client.revoke_many(default(2), user_ids, opts, 2)
  return results, err
end

--- What the default client's last HTTP response said.
-- @treturn[opt] table a copy, as
-- @{genesys.tokens.client.Client:last_response|Client:last_response} gives;
-- `nil` before the default client's first response (this call does not
-- build it)
function tokens.last_response()
  return default_client and default_client:last_response() or nil
end

return tokens

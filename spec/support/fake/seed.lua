-- Initial state of the fake Genesys Cloud API.
-- Pure data with no requires, so the same file loads in Lua 5.1-5.4, LuaJIT
-- and inside nginx. Specs read it to know ids; the fake copies it on reset.
-- Every token and id here is a made-up test value.

local ACME = { id = "2f1e8c2a-5b7d-4c1e-9a3f-0d6b7e8f9a01", name = "Acme Corp" }
local TRUSTOR = { id = "7c9d0e1f-2a3b-4c5d-8e6f-1a2b3c4d5e02", name = "Trustor Inc" }

local ADMIN_ID = "3b6f5a10-0c2d-4e8f-9a1b-2c3d4e5f6a10"
local ALICE_ID = "5d2c8e41-7f3a-4b9c-8d1e-6a5b4c3d2e11"
local BOB_ID = "8e4f2a73-1b5c-4d6e-9f0a-7b8c9d0e1f12"
-- Contains '/', '?', '#', a space and non-ASCII UTF-8: a client that does
-- not percent-encode the path segment cannot reach this user.
local ODD_ID = "odd/user?id#1 \195\188"
local CLONE_ID = "c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e713"
-- The native user (in the trustor org) that CLONE_ID is a clone of.
local NATIVE_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b14"
local NULLS_ID = "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a815"

local function ref(id)
  return { id = id, selfUri = "/api/v2/users/" .. id }
end

local clients = {
  admin_tool = {
    id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c41",
    name = "Acme Admin Tool",
    dateCreated = "2024-03-01T09:30:00.000Z",
    dateModified = "2025-01-15T14:00:00.000Z",
    createdBy = ref(ADMIN_ID),
    authorizedGrantType = "CLIENT-CREDENTIALS",
    scope = {},
    roleDivisions = {
      { roleId = "11111111-2222-4333-8444-555555555551", divisionId = "66666666-7777-4888-9999-000000000001" },
    },
    state = "active",
    organization = { id = ACME.id, name = ACME.name },
  },
  web_app = {
    id = "1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d42",
    name = "Acme Web App",
    dateCreated = "2024-05-20T08:00:00.000Z",
    createdBy = ref(ADMIN_ID),
    authorizedGrantType = "CODE",
    scope = { "users:readonly", "oauth", "analytics:readonly" },
    roleDivisions = {},
    state = "active",
    organization = { id = ACME.id, name = ACME.name },
  },
  legacy = {
    id = "2c3d4e5f-6071-4c8d-ae9f-1a2b3c4d5e43",
    name = "Legacy Integration",
    dateCreated = "2019-11-05T17:45:00.000Z",
    dateModified = "2020-02-01T10:00:00.000Z",
    createdBy = ref(ADMIN_ID),
    modifiedBy = ref(ADMIN_ID),
    authorizedGrantType = "CODE",
    scope = { "users" },
    roleDivisions = {},
    state = "active",
    dateToDelete = "2030-01-01T00:00:00.000Z",
    organization = { id = ACME.id, name = ACME.name },
  },
}

return {
  orgs = { acme = ACME, trustor = TRUSTOR },

  -- permissions belong to the user; a token may override them (see tokens).
  users = {
    admin = { id = ADMIN_ID, name = "Ada Admin", org_id = ACME.id,
      permissions = { "oauth:token:delete", "directory:organization:admin" } },
    alice = { id = ALICE_ID, name = "Alice Example", org_id = ACME.id, permissions = {} },
    bob = { id = BOB_ID, name = "Bob Example", org_id = ACME.id, permissions = {} },
    odd = { id = ODD_ID, name = "Odd Id", org_id = ACME.id, permissions = {} },
    cloned = { id = CLONE_ID, name = "Carol Clone", org_id = ACME.id, permissions = {} },
    nulls = { id = NULLS_ID, name = "Nina Nulls", org_id = ACME.id, permissions = {} },
  },

  clients = clients,

  -- token string -> what GET /api/v2/tokens/me reports for it.
  -- org_id: org the token acts in; home_org_id: its home org.
  -- json_nulls: TokenInfo fields (dotted paths) sent as explicit JSON null.
  tokens = {
    ["tok-admin"] = { user_id = ADMIN_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.admin_tool.id, scopes = { "admin", "oauth:token:delete" },
      date_token_idles = "2031-01-01T12:00:00.000Z" },
    ["tok-alice"] = { user_id = ALICE_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.web_app.id, scopes = { "users:readonly", "oauth" },
      date_token_idles = "2031-01-01T12:15:00.000Z" },
    ["tok-bob-1"] = { user_id = BOB_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.web_app.id, scopes = { "users:readonly" },
      date_token_idles = "2031-01-01T12:30:00.000Z" },
    ["tok-bob-2"] = { user_id = BOB_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.web_app.id, scopes = { "users:readonly", "analytics:readonly" },
      date_token_idles = "2031-01-01T12:45:00.000Z" },
    ["tok-odd"] = { user_id = ODD_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.web_app.id, scopes = { "oauth" },
      date_token_idles = "2031-01-01T13:00:00.000Z" },
    ["tok-cloned"] = { user_id = CLONE_ID, org_id = ACME.id, home_org_id = TRUSTOR.id,
      client_id = clients.web_app.id, scopes = { "users:readonly" },
      date_token_idles = "2031-01-01T13:15:00.000Z",
      cloned_user = { id = NATIVE_ID, org_id = TRUSTOR.id } },
    ["tok-nulls"] = { user_id = NULLS_ID, org_id = ACME.id, home_org_id = ACME.id,
      client_id = clients.legacy.id, scopes = {},
      json_nulls = { "clonedUser", "dateTokenIdles", "OAuthClient.dateToDelete", "OAuthClient.modifiedBy" } },
  },

  -- Idle-token-timeout setting per org id (GET/PUT /api/v2/tokens/timeout).
  timeouts = {
    [ACME.id] = { idleTokenTimeoutSeconds = 900, enableIdleTokenTimeout = true },
    [TRUSTOR.id] = { idleTokenTimeoutSeconds = 3600, enableIdleTokenTimeout = false },
  },

  -- Client-credentials OAuth clients for POST /oauth/token, by name. A
  -- token issued to one acts as `user` (a key of users, or a user id) through
  -- OrgOAuthClient `oauth_client`, with scopes and permissions (defaults in
  -- api.lua: admin's powers) and lives expires_in seconds.
  oauth_clients = {
    admin = { client_id = "cc-admin-id", client_secret = "cc-admin-secret", user = "admin",
      oauth_client = clients.admin_tool.id, expires_in = 3600 },
    short = { client_id = "cc-short-id", client_secret = "cc-short-secret", user = "admin",
      oauth_client = clients.admin_tool.id, expires_in = 2 },
    -- A secret with ':' and characters that URL- or form-encoding would
    -- change: Basic must carry it as it is.
    odd = { client_id = "cc-odd-id", client_secret = "p@ss:w/rd+=?&%20", user = "admin",
      oauth_client = clients.admin_tool.id, expires_in = 3600 },
  },

  -- Credentials the "proxy" listener wants in Proxy-Authorization (Basic).
  proxy = { user = "puser", password = "ppass" },

  -- Shortcuts for specs and the runner.
  admin_token = "tok-admin",
  demo_user = "alice",
  demo_token = "tok-alice",
  native_user_id = NATIVE_ID,
}

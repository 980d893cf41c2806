-- The command's options: which command takes which, where each is read
-- from the environment, and the parsing of argv. An error message never
-- repeats a value, nor an argument that is not plainly an option's name:
-- what an operator mistyped may be a secret (-token=..., --tokenXYZ).
local flags = {}

-- Every option: its flag, the key it sets, whether it takes a value, and
-- its environment variable. Those of the Genesys CLI and the Terraform
-- provider keep their GENESYSCLOUD_* names; the rest are GENESYS_TOKENS_*.
local OPTIONS = {
  { "--region", "region", value = true, env = "GENESYSCLOUD_REGION" },
  { "--base-url", "base_url", value = true, env = "GENESYSCLOUD_BASE_URL" },
  { "--login-url", "login_url", value = true },
  { "--token", "access_token", value = true, env = "GENESYSCLOUD_ACCESS_TOKEN", secret = true },
  { "--client-id", "client_id", value = true, env = "GENESYSCLOUD_OAUTHCLIENT_ID" },
  { "--client-secret", "client_secret", value = true, env = "GENESYSCLOUD_OAUTHCLIENT_SECRET", secret = true },
  { "--timeout", "timeout", value = true },
  { "--ca-file", "ca_file", value = true },
  { "--proxy", "proxy", value = true, secret = true }, -- a proxy URL may carry a password
  { "--allow-http", "allow_http" },
  { "--log-level", "log_level", value = true },
  { "--json", "json" },
  { "--file", "file", value = true },
  { "--concurrency", "concurrency", value = true },
  { "--report", "report", value = true },
  { "--resume", "resume", value = true },
  { "--quiet", "quiet" },
  { "--seconds", "seconds", value = true },
  { "--enable", "enable" },
  { "--disable", "disable" },
  { "--help", "help", env = false },
  { "-h", "help", env = false },
  { "--version", "version", env = false },
}

local BY_FLAG = {}
for _, o in ipairs(OPTIONS) do
  if o.env == nil then o.env = "GENESYS_TOKENS_" .. o[1]:sub(3):upper():gsub("-", "_") end
  BY_FLAG[o[1]] = o
end
flags.OPTIONS = OPTIONS

-- What every command takes, and what each takes besides.
local COMMON = { "region", "base_url", "login_url", "access_token", "client_id", "client_secret",
  "timeout", "ca_file", "proxy", "allow_http", "log_level", "help", "version" }
local OWN = {
  me = { "json" },
  verify = {},
  ["revoke-me"] = {},
  revoke = { "file", "concurrency", "report", "resume", "quiet" },
  ["timeout get"] = { "json" },
  ["timeout set"] = { "seconds", "enable", "disable" },
}
flags.COMMANDS = {}
for command, own in pairs(OWN) do
  local takes = {}
  for _, key in ipairs(COMMON) do takes[key] = true end
  for _, key in ipairs(own) do takes[key] = true end
  flags.COMMANDS[command] = takes
end

-- "-token", "--Client_Secret": a known option's name written differently.
local function respelled(name)
  local canonical = "--" .. name:gsub("^%-+", ""):lower():gsub("_", "-")
  return BY_FLAG[canonical] and canonical
end

-- How an unknown option is named in an error: only ever a known option's
-- name or a short lower-case word.
local function unknown_option(arg, position)
  local name = arg:match("^[^=]*")
  local known = respelled(name)
  if known then return ("unknown option %s (did you mean %s?)"):format(name, known) end
  local squashed = "--" .. name:gsub("^%-+", ""):lower():gsub("_", "-")
  for _, o in ipairs(OPTIONS) do
    if o.value and squashed:sub(1, #o[1]) == o[1] then
      return ("unknown option %s... in argument %d (a value goes after a space or =)"):format(o[1], position)
    end
  end
  if #name <= 20 and name:match("^%-%-?[a-z][a-z-]*$") then return "unknown option " .. name end
  return ("argument %d is not an option this command knows"):format(position)
end

--- Parses argv: returns the options given ({ key = value or true }), the
-- words (command, subcommand, user ids), or nil and a usage message.
function flags.parse(argv)
  local given, words = {}, {}
  local i, only_words = 1, false
  while argv[i] ~= nil do
    local a = argv[i]
    if only_words or a == "-" or a:sub(1, 1) ~= "-" then
      words[#words + 1] = a
    elseif a == "--" then
      only_words = true
    else
      local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
      local o = BY_FLAG[name or a]
      if not o then return nil, unknown_option(a, i) end
      if o.value then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, o[1] .. " needs a value" end
        end
      elseif value ~= nil then
        return nil, o[1] .. " takes no value"
      else
        value = true
      end
      if given[o[2]] ~= nil and o[2] ~= "help" then return nil, o[1] .. " is given twice" end
      given[o[2]] = value
    end
    i = i + 1
  end
  return given, words
end

local TRUE = { ["1"] = true, ["true"] = true, yes = true, on = true }
local FALSE = { ["0"] = true, ["false"] = true, no = true, off = true }

--- The options `command` takes, each from its flag or else from its
-- environment variable (`getenv`). Returns the settings and, for each,
-- where it came from ("flag" or "env"); or nil and a usage message naming
-- the first option the command does not take.
function flags.resolve(command, given, getenv)
  local takes = flags.COMMANDS[command]
  for _, o in ipairs(OPTIONS) do
    if given[o[2]] ~= nil and not takes[o[2]] then
      return nil, ("%s does not take %s"):format(command, o[1])
    end
  end
  local settings, source = {}, {}
  for _, o in ipairs(OPTIONS) do
    local key = o[2]
    if takes[key] and settings[key] == nil then
      if given[key] ~= nil then
        settings[key], source[key] = given[key], "flag"
      elseif o.env then
        local v = getenv(o.env)
        if v ~= nil and v ~= "" then
          if not o.value then
            if TRUE[v:lower()] then v = true
            elseif FALSE[v:lower()] then v = nil
            else return nil, o.env .. " must be 1 or 0 (true or false)" end
          end
          settings[key], source[key] = v, v ~= nil and "env" or nil
        end
      end
    end
  end
  return settings, source
end

--- The client's credentials and place from the settings: a flag wins
-- over the environment, and credentials given as flags are completed from
-- the environment only with their own kind (--client-id with the secret
-- in GENESYSCLOUD_OAUTHCLIENT_SECRET), never with a token, and the other
-- way round. Returns the client options, or nil and a usage message.
function flags.client_options(s, source)
  local o = { login_url = s.login_url, ca_file = s.ca_file, proxy = s.proxy, log_level = s.log_level,
    allow_http = s.allow_http or nil }
  local token_flag = source.access_token == "flag"
  local client_flag = source.client_id == "flag" or source.client_secret == "flag"
  if token_flag and client_flag then return nil, "give --token, or --client-id and --client-secret, not both" end
  if token_flag or (s.access_token and not client_flag) then
    o.access_token = s.access_token
  else
    o.client_id, o.client_secret = s.client_id, s.client_secret
  end
  if source.region == "flag" and source.base_url == "flag" then return nil, "give --region or --base-url, not both" end
  if source.region == "flag" or not s.base_url then o.region = s.region else o.base_url = s.base_url end
  if s.timeout then
    o.timeout = tonumber(s.timeout)
    if not o.timeout then return nil, "--timeout needs a number of seconds" end
  end
  return o
end

--- How to name the option `key` in a message: its flag, or its variable
-- when that is where the value came from.
function flags.named(key, source)
  for _, o in ipairs(OPTIONS) do
    if o[2] == key then return source and source[key] == "env" and o.env or o[1] end
  end
  return key
end

--- A library message with its option names spelled as flags
-- ("allow_http = true" as --allow-http, "base_url" as --base-url).
function flags.spelled_as_flags(text)
  text = text:gsub("allow_http = true", "--allow-http")
  for _, o in ipairs(OPTIONS) do
    if o[2]:find("_", 1, true) then
      text = text:gsub("%f[%w_]" .. o[2] .. "%f[^%w_]", o[1])
    end
  end
  return text
end

--- The secrets among the settings (to be kept out of every output).
function flags.secrets(s)
  local list = {}
  for _, o in ipairs(OPTIONS) do
    local v = s[o[2]]
    if o.secret and type(v) == "string" and v ~= "" then list[#list + 1] = v end
  end
  return list
end

return flags

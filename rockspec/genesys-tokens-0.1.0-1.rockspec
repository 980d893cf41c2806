rockspec_format = "3.0"
package = "genesys-tokens"
version = "0.1.0-1"

source = {
  url = "git+https://example.invalid/genesys-tokens.git",
  tag = "v0.1.0",
}

description = {
  summary = "Genesys Cloud Platform API Tokens resource, on a C core over libcurl",
  detailed = [[
    who am I (TokenInfo), log this token out, end every session of a user,
    verify a token, read and set the idle-token timeout; client-credentials
    login, retries, logging; plain Lua 5.1-5.4, LuaJIT and OpenResty.
  ]],
  license = "MIT",
  labels = { "genesys", "purecloud", "oauth", "libcurl", "openresty" },
}

dependencies = {
  "lua >= 5.1",
  -- In OpenResty install with --deps-mode=none, so that this does not
  -- shadow the cjson OpenResty bundles.
  "lua-cjson",
}

-- The library alone: luarocks looks for a header only under <prefix>/include,
-- and Debian keeps curl.h under include/x86_64-linux-gnu/ (which the compiler
-- searches by itself), so declaring the header would fail there. luarocks
-- finds libcurl.so in lib/x86_64-linux-gnu/ on its own.
external_dependencies = {
  CURL = { library = "curl" },
}

build = {
  type = "builtin",
  modules = {
    ["genesys.tokens"] = "lua/genesys/tokens.lua",
    ["genesys.tokens.auth"] = "lua/genesys/tokens/auth.lua",
    ["genesys.tokens.bulk"] = "lua/genesys/tokens/bulk.lua",
    ["genesys.tokens.cli"] = "lua/genesys/tokens/cli.lua",
    ["genesys.tokens.cli.flags"] = "lua/genesys/tokens/cli/flags.lua",
    ["genesys.tokens.cli.ids"] = "lua/genesys/tokens/cli/ids.lua",
    ["genesys.tokens.cli.report"] = "lua/genesys/tokens/cli/report.lua",
    ["genesys.tokens.cli.signals"] = { sources = { "src/lua_signals.c" } },
    ["genesys.tokens.client"] = "lua/genesys/tokens/client.lua",
    ["genesys.tokens.errors"] = "lua/genesys/tokens/errors.lua",
    ["genesys.tokens.gate"] = "lua/genesys/tokens/gate.lua",
    ["genesys.tokens.gate.metrics"] = "lua/genesys/tokens/gate/metrics.lua",
    ["genesys.tokens.gate.settings"] = "lua/genesys/tokens/gate/settings.lua",
    ["genesys.tokens.gate.verdict"] = "lua/genesys/tokens/gate/verdict.lua",
    ["genesys.tokens.idle_timeout"] = "lua/genesys/tokens/idle_timeout.lua",
    ["genesys.tokens.json"] = "lua/genesys/tokens/json.lua",
    ["genesys.tokens.log"] = "lua/genesys/tokens/log.lua",
    ["genesys.tokens.options"] = "lua/genesys/tokens/options.lua",
    ["genesys.tokens.regions"] = "lua/genesys/tokens/regions.lua",
    ["genesys.tokens.retry"] = "lua/genesys/tokens/retry.lua",
    ["genesys.tokens.transport.ngx"] = "lua/genesys/tokens/transport/ngx.lua",
    ["genesys.tokens.core"] = {
      sources = { "src/gt_buffer.c", "src/gt_url.c", "src/gt_headers.c", "src/gt_transfer.c", "src/gt_client.c",
        "src/lua_core.c" },
      -- <prefix>/include of the libcurl found (or CURL_INCDIR): needed when
      -- curl lives elsewhere (CURL_DIR=/opt/curl); /usr/include is a system
      -- directory the compiler already searches.
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
  },
}

build.install = { bin = { ["genesys-tokens"] = "bin/genesys-tokens" } }

test_dependencies = { "busted" }
test = { type = "busted" }

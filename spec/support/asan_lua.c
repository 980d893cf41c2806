/* A minimal Lua 5.x interpreter for `make asan`: built with the sanitizers,
 * so their runtime comes first in the process without LD_PRELOAD (which
 * every shell command a spec runs would inherit, and pgrep or mktemp do
 * not survive). It runs what the specs need of lua(1):
 *   asan_lua [-e CHUNK]... [SCRIPT [ARGS...]]
 * with `arg` set as lua(1) sets it, and Ctrl-C raising "interrupted!" as
 * lua(1) does (the CLI specs rely on it). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static lua_State *running;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_interrupt(int sig) {
  signal(sig, SIG_DFL); /* a second Ctrl-C ends the process */
  lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

/* Runs the function on top with `n` arguments below it; 0 on success. */
static int run(lua_State *L, int n) {
  int base = lua_gettop(L) - n;
  int status;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  running = L;
  signal(SIGINT, on_interrupt);
  status = lua_pcall(L, n, 0, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  if (status != 0) {
    fprintf(stderr, "asan_lua: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int i = 1, status = 0;
  if (L == NULL)
    return 1;
  luaL_openlibs(L);
  while (i < argc && strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
    if (luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)") != 0) {
      fprintf(stderr, "asan_lua: %s\n", lua_tostring(L, -1));
      lua_close(L);
      return 1;
    }
    if (run(L, 0) != 0) {
      lua_close(L);
      return 1;
    }
    i += 2;
  }
  if (i < argc) {
    int script = i, n;
    lua_createtable(L, argc - script, script + 1);
    for (n = 0; n < argc; n++) {
      lua_pushstring(L, argv[n]);
      lua_rawseti(L, -2, n - script);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfile(L, argv[script]) != 0) {
      fprintf(stderr, "asan_lua: %s\n", lua_tostring(L, -1));
      lua_close(L);
      return 1;
    }
    /* As lua(1) does: a C function may only count on LUA_MINSTACK slots. */
    luaL_checkstack(L, argc - script + 3, "too many arguments to the script");
    for (n = script + 1; n < argc; n++)
      lua_pushstring(L, argv[n]);
    status = run(L, argc - script - 1);
  }
  lua_close(L);
  return status == 0 ? 0 : 1;
}

/* genesys.tokens.cli.signals: signals for a command-line program (the
 * genesys-tokens command), never for a library. A module of its own, apart
 * from the core: signal handlers are process-wide, so its state is too.
 *
 * catch(program, grace) makes SIGINT, SIGTERM and SIGHUP do what lua.c does
 * for Ctrl-C: set a hook that raises "interrupted!" at the main thread's
 * next instruction, so that a wait or a transfer of the core stops as it
 * does on Ctrl-C. Unlike lua.c's signal(), sigaction without SA_RESTART
 * also ends a blocking read or write; SA_RESETHAND gives a second signal of
 * a kind its default action, so it always ends the process. And the program
 * gets `grace` seconds to clean up: a write that blocks again (a report on
 * a pipe nobody reads) or a compiled LuaJIT loop, which no hook reaches,
 * then ends with a line on stderr and 128 + the signal. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#if defined(__GNUC__)
#define GT_EXPORT __attribute__((visibility("default")))
#else
#define GT_EXPORT
#endif

static lua_State *volatile signal_state;
static volatile sig_atomic_t signal_caught;
static struct itimerval signal_grace;
static char grace_message[3][160]; /* for SIGINT, SIGTERM, SIGHUP */

static void signal_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_signal(int signo) {
  if (!signal_caught)
    setitimer(ITIMER_REAL, &signal_grace, NULL);
  signal_caught = signo;
  lua_sethook(signal_state, signal_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void on_grace_over(int signo) {
  const char *m = grace_message[signal_caught == SIGINT ? 0 : signal_caught == SIGTERM ? 1 : 2];
  struct pollfd err = {STDERR_FILENO, POLLOUT, 0};
  (void)signo;
  /* Only if it cannot block: stderr may be the pipe nobody reads. */
  if (poll(&err, 1, 0) == 1 && (err.revents & POLLOUT) && write(STDERR_FILENO, m, strlen(m)) < 0) {
    /* nothing more to do: the exit below is what matters */
  }
  _exit(128 + signal_caught);
}

/* The main thread, where the hook must go: Lua 5.2+ keep it in the
 * registry; on 5.1 and LuaJIT the caller is taken to be it (a program
 * calls catch() from its main chunk). */
static lua_State *main_thread(lua_State *L) {
#if LUA_VERSION_NUM >= 502
  lua_State *main;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  return main ? main : L;
#else
  return L;
#endif
}

/* signals.catch(program, grace): installs the handlers; `grace` seconds
 * (0.01 to 60) after the first signal the process ends whatever it does,
 * saying "<program>: interrupted by ... (ended before its cleanup
 * finished)". */
static int signals_catch(lua_State *L) {
  static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  static const char *const names[] = {"SIGINT", "SIGTERM", "SIGHUP"};
  const char *program = luaL_checkstring(L, 1);
  lua_Number grace = luaL_checknumber(L, 2);
  struct sigaction sa;
  size_t i;
  if (!(grace >= 0.01 && grace <= 60))
    return luaL_argerror(L, 2, "grace must be from 0.01 to 60 seconds");
  for (i = 0; i < 3; i++)
    snprintf(grace_message[i], sizeof grace_message[i],
             "%.64s: interrupted by %s (ended before its cleanup finished)\n", program, names[i]);
  memset(&signal_grace, 0, sizeof signal_grace);
  signal_grace.it_value.tv_sec = (time_t)grace;
  signal_grace.it_value.tv_usec = (suseconds_t)((grace - (lua_Number)(time_t)grace) * 1e6);
  signal_state = main_thread(L);
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_grace_over;
  if (sigaction(SIGALRM, &sa, NULL) != 0)
    return luaL_error(L, "sigaction: %s", strerror(errno));
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;
  for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (sigaction(signals[i], &sa, NULL) != 0)
      return luaL_error(L, "sigaction: %s", strerror(errno));
  return 0;
}

/* signals.caught() -> the number of the last signal caught, or nil. */
static int signals_caught(lua_State *L) {
  if (signal_caught)
    lua_pushinteger(L, (lua_Integer)signal_caught);
  else
    lua_pushnil(L);
  return 1;
}

GT_EXPORT int luaopen_genesys_tokens_cli_signals(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, signals_catch);
  lua_setfield(L, -2, "catch");
  lua_pushcfunction(L, signals_caught);
  lua_setfield(L, -2, "caught");
  return 1;
}

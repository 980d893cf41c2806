// One sequential client of the benchmark: the official Genesys Cloud
// JavaScript SDK (npm purecloud-platform-client-v2), pointed at the fast
// endpoint through its gateway setting, TokensApi.getTokensMe() in a loop.
//
//   node spec/bench/js_sdk.js SDK_DIR PORT CALLS [WARMUP]
//   node spec/bench/js_sdk.js SDK_DIR PORT serve [WARMUP]
//
// With `serve`, takes turns with its peers as raw_curl.c does
// (spec/bench/lockstep.lua): "READY rate=<r>" after the warm-up, then
// "DONE <seconds>" for each line "N" on stdin, until stdin ends.
// SDK_DIR is the throwaway folder the SDK was npm-installed into. Prints
// "RESULT calls=<n> seconds=<s> rate=<calls per second> version=<sdk version>"
// (the warm-up is not timed). Plain http:// on a custom port is what the
// gateway setting is for: ApiClient builds protocol://host:port/path_params_api
// + path (configuration.js getConfUrl); setEnvironment always makes https://api.<env>.
'use strict';
const path = require('path');

const [sdkDir, port, callsArg, warmupArg] = process.argv.slice(2);
if (!sdkDir || !port || !callsArg) {
  console.error('usage: node js_sdk.js SDK_DIR PORT CALLS [WARMUP]');
  process.exit(2);
}
const serve = callsArg === 'serve';
const calls = serve ? 1 : Number(callsArg);
const warmup = warmupArg === undefined ? 1000 : Number(warmupArg);
if (!(calls >= 1 && calls <= 1e7 && warmup >= 0 && warmup <= 1e7)) {
  console.error('js_sdk: CALLS 1..10000000, WARMUP 0..10000000');
  process.exit(2);
}

const pkgDir = path.join(path.resolve(sdkDir), 'node_modules', 'purecloud-platform-client-v2');
const version = require(path.join(pkgDir, 'package.json')).version;
const platformClient = require(pkgDir);

const client = platformClient.ApiClient.instance;
client.setGateway({
  host: '127.0.0.1',
  protocol: 'http',
  port: Number(port),
  path_params_login: '',
  path_params_api: '',
});
client.setAccessToken('bench-access-token-0123456789abcdef');
const tokensApi = new platformClient.TokensApi();

function check(info, i) {
  if (!info || typeof info.organization !== 'object') {
    throw new Error(`call ${i}: no organization in the TokenInfo`);
  }
}

async function loop(n) {
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= n; i++) check(await tokensApi.getTokensMe(), i);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main() {
  const warm = await loop(warmup);
  if (!serve) {
    const seconds = await loop(calls);
    console.log(`RESULT calls=${calls} seconds=${seconds.toFixed(6)} rate=${(calls / seconds).toFixed(1)} version=${version}`);
    return;
  }
  process.stdout.write(`READY rate=${(warmup > 0 && warm > 0 ? warmup / warm : 0).toFixed(1)} version=${version}\n`);
  const lines = require('readline').createInterface({ input: process.stdin });
  for await (const line of lines) {
    const n = Number(line);
    if (!(n >= 1 && n <= 1e7)) throw new Error('a turn is 1..10000000 calls');
    process.stdout.write(`DONE ${(await loop(n)).toFixed(6)}\n`);
  }
}

main().catch((err) => {
  console.error('js_sdk:', err && err.message ? err.message : JSON.stringify(err));
  process.exit(1);
});

// Drives the real npm `phoenix` 1.8.16 client over its LongPoll transport
// (fetch and AbortController, both built into Node 20) against a
// switchboard server, and its `longPollFallbackMs` fallback when the
// WebSocket cannot get through.  Started by
// spec/interop_longpoll_spec.lua with the server's port; prints one line
// `RESULT {json}` with what every scenario observed and exits.
//
// The fallback needs a network where WebSockets are blocked.  A small
// HTTP proxy stands in for one: it forwards plain HTTP requests to the
// server as they are and never lets an upgrade through.  Under /hang/ it
// swallows the upgrade (no answer, as from a proxy that buffers it), so the
// client falls back when longPollFallbackMs runs out; under /refuse/ it
// answers the upgrade 403 at once, so the client falls back on the error.
"use strict";
const http = require("http");
const { Socket, LongPoll, Presence } = require("phoenix");
const WebSocket = require("ws");

const port = Number(process.argv[2]);
const results = {};
const sockets = [];
const held = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function socket(url, opts = {}) {
  const s = new Socket(url, opts);
  s.connect();
  sockets.push(s);
  return s;
}

const lp = (opts = {}) => socket(`ws://127.0.0.1:${port}/socket`, { transport: LongPoll, ...opts });
const ws = (opts = {}) => socket(`ws://127.0.0.1:${port}/socket`, { transport: WebSocket, ...opts });

// Resolves with the first receive() status of a push, with its response.
function outcome(push) {
  return new Promise((resolve) => {
    for (const status of ["ok", "error", "timeout"]) {
      push.receive(status, (resp) => resolve({ status, resp }));
    }
  });
}

async function waitFor(cond, ms = 4000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

function metaCounts(presence) {
  const out = {};
  presence.list((key, { metas }) => { out[key] = metas.length; });
  return out;
}

// A reverse proxy to the server that refuses WebSockets (see the top).
function startProxy() {
  const server = http.createServer((req, res) => {
    const m = req.url.match(/^\/(hang|refuse)(\/.*)$/);
    if (!m) {
      res.writeHead(404);
      res.end();
      return;
    }
    const up = http.request({ host: "127.0.0.1", port, method: req.method, path: m[2],
      headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  server.on("upgrade", (req, sock) => {
    if (req.url.startsWith("/refuse/")) {
      sock.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    } else {
      held.push(sock);   // never answered
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function joinAndPush() {
  const s = lp({ params: { token: "abc" } });
  const ch = s.channel("room:lp", {});
  results.join = await outcome(ch.join());
  results.push_ok = await outcome(ch.push("ask", {}));
  results.push_error = await outcome(ch.push("ask", { fail: true }));
  results.refused = await outcome(s.channel("room:secret", {}).join());
  results.transport = s.transport === LongPoll ? "LongPoll" : "other";
}

async function broadcast() {
  const a = lp(), b = ws();
  const ca = a.channel("room:mixed", {}), cb = b.channel("room:mixed", {});
  const seenA = [], seenB = [];
  ca.on("shout", (p) => seenA.push(p));
  cb.on("shout", (p) => seenB.push(p));
  await outcome(ca.join());
  await outcome(cb.join());
  await outcome(ca.push("shout", { from: "longpoll" }));
  await outcome(cb.push("shout", { from: "websocket" }));
  await waitFor(() => seenA.length === 1 && seenB.length === 1);
  await sleep(150);
  results.broadcast = { longpoll: seenA, websocket: seenB };
}

async function presence() {
  const watcher = lp();
  const ch = watcher.channel("room:lpp", { user: "carol" });
  const p = new Presence(ch);
  let syncs = 0;
  p.onSync(() => { syncs += 1; });
  await outcome(ch.join());
  const alice1 = ws(), alice2 = lp(), bob = ws();
  await outcome(alice1.channel("room:lpp", { user: "alice" }).join());
  await outcome(alice2.channel("room:lpp", { user: "alice" }).join());
  await outcome(bob.channel("room:lpp", { user: "bob" }).join());
  const want = JSON.stringify({ carol: 1, alice: 2, bob: 1 });
  await waitFor(() => JSON.stringify(metaCounts(p)) === want);
  results.presence_before = metaCounts(p);
  bob.disconnect();
  await waitFor(() => !metaCounts(p).bob);
  results.presence_after = metaCounts(p);
  results.presence_syncs = syncs;
}

// Polls the server answers 204 (its window is short here) keep an idle
// session open; a push still works afterwards.
async function idle() {
  const s = lp();
  let closes = 0;
  s.onClose(() => { closes += 1; });
  const ch = s.channel("room:idle", {});
  await outcome(ch.join());
  await sleep(2500);
  const r = await outcome(ch.push("ask", {}));
  results.idle = { connected: s.isConnected(), closes, push: r.status };
}

// The server ends the session (conn:close in the room's `drop`): the next
// poll gets 410, the client reconnects and rejoins with a fresh join_ref.
async function sessionGone() {
  const s = lp();
  const ch = s.channel("room:gone", { user: "eve" });
  const p = new Presence(ch);
  const refs = [];
  const codes = [];
  s.onClose((e) => codes.push(e && e.code));
  ch.join().receive("ok", () => refs.push(ch.joinRef()));
  await waitFor(() => refs.length === 1);
  ch.push("drop", {});
  await waitFor(() => refs.length === 2 && metaCounts(p).eve === 1, 6000);
  results.gone = { joins: refs.length, fresh_ref: refs[0] !== refs[1], eve: metaCounts(p).eve,
    close_codes: codes.slice() };
}

// The authToken goes in the X-Phoenix-AuthToken header over LongPoll;
// the spec checks that the connect hook saw it.
async function authToken() {
  const s = lp({ authToken: "lp-secret" });
  const ch = s.channel("room:auth", {});
  results.auth = (await outcome(ch.join())).status;
}

async function fallback(prefix, ms) {
  const proxy = await startProxy();
  const url = `ws://127.0.0.1:${proxy.address().port}/${prefix}/socket`;
  const t0 = Date.now();
  const s = socket(url, { transport: WebSocket, longPollFallbackMs: ms });
  let opened = null;
  s.onOpen(() => { if (opened === null) opened = Date.now() - t0; });
  const ch = s.channel("room:fb", {});
  const join = await outcome(ch.join());
  const push = await outcome(ch.push("ask", {}));
  const out = { after_ms: opened, longpoll: s.transport === LongPoll, join: join.status, push };
  s.disconnect();
  proxy.close();
  return out;
}

async function main() {
  const scenarios = {
    joinAndPush, broadcast, presence, idle, sessionGone, authToken,
    fallbackOnTimeout: async () => { results.fallback_timeout = await fallback("hang", 700); },
    fallbackOnError: async () => { results.fallback_error = await fallback("refuse", 5000); },
  };
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      await Promise.race([fn(), sleep(12000).then(() => { throw new Error("timed out"); })]);
    } catch (e) {
      results[`${name}_failed`] = String(e && e.stack || e);
    }
  }
  for (const s of sockets) s.disconnect();
  for (const sock of held) sock.destroy();
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
  setTimeout(() => process.exit(0), 50);
}

main();

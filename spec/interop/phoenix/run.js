// Drives the real npm `phoenix` 1.8.16 client (and its Presence class)
// against a switchboard server.  Started by spec/interop_phoenix_spec.lua
// with the server's port; prints one line `RESULT {json}` with what every
// scenario observed (the spec asserts on it) and exits.
"use strict";
const { Socket, Presence } = require("phoenix");
const WebSocket = require("ws");

const port = process.argv[2];
const url = `ws://127.0.0.1:${port}/socket`;
const results = {};
const sockets = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function socket(opts = {}) {
  const s = new Socket(url, { transport: WebSocket, ...opts });
  s.connect();
  sockets.push(s);
  return s;
}

// Resolves with the first receive() status of a push, with its response.
function outcome(push) {
  return new Promise((resolve) => {
    for (const status of ["ok", "error", "timeout"]) {
      push.receive(status, (resp) => resolve({ status, resp }));
    }
  });
}

async function waitFor(cond, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

const bytes = (buf) => Array.from(new Uint8Array(buf));

async function joinOk() {
  const s = socket({ params: { token: "abc" } });
  const ch = s.channel("room:lobby", {});
  results.join = await outcome(ch.join());
}

async function joinRefused() {
  const s = socket();
  const ch = s.channel("room:secret", {});
  results.refused = await outcome(ch.join());
  ch.leave();
}

async function pushes() {
  const s = socket();
  const ch = s.channel("room:p", {});
  await outcome(ch.join());
  results.push_ok = await outcome(ch.push("ask", {}));
  results.push_error = await outcome(ch.push("ask", { fail: true }));
  results.push_timeout = (await outcome(ch.push("silent", {}, 300))).status;
}

async function broadcast() {
  const a = socket(), b = socket();
  const ca = a.channel("room:b", {}), cb = b.channel("room:b", {});
  const seenA = [], seenB = [];
  ca.on("shout", (p) => seenA.push(p));
  cb.on("shout", (p) => seenB.push(p));
  await outcome(ca.join());
  await outcome(cb.join());
  await outcome(ca.push("shout", { x: 1 }));
  await waitFor(() => seenB.length === 1);
  await sleep(150);
  results.broadcast = { sender: seenA, other: seenB };
}

function metaCounts(presence) {
  const out = {};
  presence.list((key, { metas }) => { out[key] = metas.length; });
  return out;
}

async function presence() {
  const w = socket();
  const ch = w.channel("room:pr", { user: "carol" });
  const p = new Presence(ch);
  let syncs = 0;
  p.onSync(() => { syncs += 1; });
  await outcome(ch.join());
  const alice1 = socket(), alice2 = socket(), bob = socket();
  await outcome(alice1.channel("room:pr", { user: "alice" }).join());
  await outcome(alice2.channel("room:pr", { user: "alice" }).join());
  await outcome(bob.channel("room:pr", { user: "bob" }).join());
  await waitFor(() => JSON.stringify(metaCounts(p)) === JSON.stringify({ carol: 1, alice: 2, bob: 1 }));
  results.presence_before = metaCounts(p);
  alice2.disconnect();
  await waitFor(() => metaCounts(p).alice === 1);
  results.presence_after = metaCounts(p);
  results.presence_syncs = syncs;
}

async function heartbeat() {
  const s = socket({ heartbeatIntervalMs: 300 });
  let closes = 0;
  s.onClose(() => { closes += 1; });
  await waitFor(() => s.isConnected());
  await sleep(2500);
  results.heartbeat = { connected: s.isConnected(), closes };
}

async function rejoin() {
  const s = socket();
  const ch = s.channel("room:r", { user: "eve" });
  const p = new Presence(ch);
  const refs = [];
  ch.join().receive("ok", () => refs.push(ch.joinRef()));
  await waitFor(() => refs.length === 1);
  ch.push("drop", {});
  await waitFor(() => refs.length === 2 && metaCounts(p).eve === 1);
  results.rejoin = { joins: refs.length, fresh_ref: refs[0] !== refs[1], eve: metaCounts(p).eve };
}

async function binary() {
  const a = socket(), b = socket();
  const ca = a.channel("room:bin", {}), cb = b.channel("room:bin", {});
  const got = {};
  ca.on("bin_push", (p) => { got.push = bytes(p); });
  cb.on("bin_bcast", (p) => { got.bcast = bytes(p); });
  await outcome(ca.join());
  await outcome(cb.join());
  const r = await outcome(ca.push("upload", new Uint8Array([0xde, 0xad]).buffer));
  got.reply = { status: r.status, bytes: r.resp instanceof ArrayBuffer ? bytes(r.resp) : r.resp };
  await waitFor(() => got.push && got.bcast);
  results.binary = got;
}

async function authToken() {
  const s = socket({ authToken: "my-secret" });
  results.auth = await waitFor(() => s.isConnected());
}

async function main() {
  const scenarios = { joinOk, joinRefused, pushes, broadcast, presence, heartbeat, rejoin, binary, authToken };
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      await Promise.race([fn(), sleep(8000).then(() => { throw new Error("timed out"); })]);
    } catch (e) {
      results[`${name}_failed`] = String(e && e.stack || e);
    }
  }
  for (const s of sockets) s.disconnect();
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
  setTimeout(() => process.exit(0), 50);
}

main();

// Drives the real npm `pusher-js` (its Node build) against a switchboard
// server.  Started by spec/interop_pusher_spec.lua with the server's port;
// prints one line `RESULT {json}` with what every scenario observed (the
// spec asserts on it) and exits.
"use strict";
const Pusher = require("pusher-js");

const port = Number(process.argv[2]);
const results = {};
const clients = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond, ms = 4000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

// A client pointed at switchboard; user names the presence user.
function client(user) {
  const p = new Pusher("app-key", {
    wsHost: "127.0.0.1",
    wsPort: port,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "local",
    enableStats: false,
    channelAuthorization: {
      endpoint: `http://127.0.0.1:${port}/pusher/auth`,
      transport: "ajax",
      params: user ? { user_id: user } : {},
    },
  });
  clients.push(p);
  return p;
}

// Resolves with "ok" and the members, or "error" and its status.
function subscribed(p, name) {
  const ch = p.subscribe(name);
  return new Promise((resolve) => {
    ch.bind("pusher:subscription_succeeded", (members) => resolve({ ch, status: "ok", members }));
    ch.bind("pusher:subscription_error", (err) => resolve({ ch, status: "error", err }));
  });
}

// Public channel: what the server, a native and a Phoenix client publish.
async function news() {
  const p = client();
  const seen = { headline: null, message: null, shout: null };
  const { ch } = await subscribed(p, "interop-news");
  for (const ev of Object.keys(seen)) ch.bind(ev, (d) => { seen[ev] = d; });
  // the spec's server publishes once it sees this subscription
  await waitFor(() => seen.headline && seen.message && seen.shout);
  results.news = seen;
}

// Presence: two users, one joins late and leaves.
async function presence() {
  const a = client("ann"), b = client("bob");
  const first = await subscribed(a, "presence-interop");
  const added = [], removed = [];
  first.ch.bind("pusher:member_added", (m) => added.push(m));
  first.ch.bind("pusher:member_removed", (m) => removed.push(m));
  const second = await subscribed(b, "presence-interop");
  await waitFor(() => added.length === 1);
  results.presence = {
    me: first.members.me && first.members.me.id,
    count_first: first.ch.members.count,
    count_second: second.members.count,
    added: added.map((m) => ({ id: m.id, info: m.info })),
  };
  b.disconnect();
  await waitFor(() => removed.length === 1);
  results.presence.removed = removed.map((m) => m.id);
  results.presence.count_after = first.ch.members.count;
}

// Client events between two pusher-js clients, and out to native and
// Phoenix clients in the spec.
async function clientEvents() {
  const a = client(), b = client();
  const ca = (await subscribed(a, "private-interop")).ch;
  const cb = (await subscribed(b, "private-interop")).ch;
  const got = { a: [], b: [] };
  ca.bind("client-hello", (d) => got.a.push(d));
  cb.bind("client-hello", (d) => got.b.push(d));
  ca.trigger("client-hello", { x: 1 });
  await waitFor(() => got.b.length === 1);
  await sleep(100);
  results.client_events = got;
  const mixed = (await subscribed(a, "private-mixed")).ch;
  const back = [];
  mixed.bind("message", (d) => back.push(d));
  mixed.trigger("client-ping", { from: "pusher-js" });
  // the spec's native client answers on the same channel
  await waitFor(() => back.length === 1);
  results.mixed_reply = back[0] || null;
}

// The app's authorize says no: pusher-js reports the HTTP status.
async function refused() {
  const p = client();
  const r = await subscribed(p, "private-denied");
  results.refused = { status: r.status, http: r.err && r.err.status, type: r.err && r.err.type };
}

async function main() {
  const scenarios = { news, presence, clientEvents, refused };
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      await Promise.race([fn(), sleep(8000).then(() => { throw new Error("timed out"); })]);
    } catch (e) {
      results[name + "_failed"] = String(e && e.stack || e);
    }
  }
  for (const p of clients) p.disconnect();
  console.log("RESULT " + JSON.stringify(results));
  process.exit(0);
}

main();

// The real npm `phoenix` client and its Presence class against
// examples/chat.lua (issue 4's rules for room:<name>).  Started by
// spec/interop_chat_spec.lua with the chat server's port; prints one line
// `RESULT {json}` with what it observed and exits.
"use strict";
const { Socket, Presence } = require("phoenix");
const WebSocket = require("ws");

const url = `ws://127.0.0.1:${process.argv[2]}/socket`;
const topic = "room:interop";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = {};
const sockets = [];

function connect() {
  const s = new Socket(url, { transport: WebSocket });
  s.connect();
  sockets.push(s);
  return s;
}

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

function room(socket, user, seen) {
  const ch = socket.channel(topic, user === undefined ? {} : { user });
  const presence = new Presence(ch);
  ch.on("new_msg", (m) => seen.push(["new_msg", m]));
  ch.on("typing", (m) => seen.push(["typing", m]));
  return { ch, presence };
}

function listing(presence) {
  const out = {};
  presence.list((key, entry) => { out[key] = entry.metas.length; });
  return out;
}

async function main() {
  const refused = room(connect(), undefined, []);
  results.refused = await outcome(refused.ch.join());
  refused.ch.leave();

  const aliceSeen = [], bobSeen = [];
  const alice = room(connect(), "alice", aliceSeen);
  results.alice_join = (await outcome(alice.ch.join())).status;
  const bobTab1 = room(connect(), "bob", bobSeen);
  const bobTab2 = room(connect(), "bob", []);
  results.bob_joins = [(await outcome(bobTab1.ch.join())).status,
                       (await outcome(bobTab2.ch.join())).status];
  await waitFor(() => listing(alice.presence).bob === 2);
  results.presence_two_tabs = listing(alice.presence);

  results.push_reply = (await outcome(alice.ch.push("new_msg", { body: "hi" }))).status;
  await waitFor(() => bobSeen.some(([e]) => e === "new_msg") && aliceSeen.some(([e]) => e === "new_msg"));
  results.bob_got = bobSeen.filter(([e]) => e === "new_msg").map(([, m]) => m);
  results.alice_got = aliceSeen.filter(([e]) => e === "new_msg").map(([, m]) => m);

  alice.ch.push("typing", { typing: true });
  await waitFor(() => bobSeen.some(([e]) => e === "typing"));
  await sleep(200);
  results.bob_typing = bobSeen.filter(([e]) => e === "typing").map(([, m]) => m);
  results.alice_typing = aliceSeen.filter(([e]) => e === "typing").length;

  sockets[3].disconnect();   // bob closes one tab
  await waitFor(() => listing(alice.presence).bob === 1);
  results.presence_one_tab = listing(alice.presence);

  console.log("RESULT " + JSON.stringify(results));
  for (const s of sockets) s.disconnect();
  process.exit(0);
}

main().catch((e) => { console.log("RESULT " + JSON.stringify({ error: String(e) })); process.exit(1); });
setTimeout(() => { console.log("RESULT " + JSON.stringify({ error: "timeout", partial: results })); process.exit(1); }, 30000);

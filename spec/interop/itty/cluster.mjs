// The real npm itty-sockets client against a cluster of switchboard nodes
// sharing a Redis: the report that opened the cluster issue, replayed.
// Started by spec/interop_itty_cluster_spec.lua:
//   node cluster.mjs ws://A/c/ ws://B/c/ ws://C/c/ RESULTS.json TAG
// A and B run in the spec's process; C is a node in a process of its own.
// The script asks the spec for a step by creating RESULTS.json.<step>
// and waits for RESULTS.json.<step>.ok: "known" (node B counts alice,
// who joined on A: what a new joiner on B is told is what B knows) and
// "kill" (the spec SIGKILLs node C).  Rooms are itty-cl-TAG and
// itty-kill-TAG.  Writes [{name, ok, detail}] to RESULTS.json.
import { writeFileSync, renameSync, existsSync } from "node:fs";
import WebSocket from "ws";
import { connect } from "itty-sockets";

globalThis.WebSocket = WebSocket;

const [baseA, baseB, baseC, out, tag] = process.argv.slice(2);
if (!tag) {
    console.error("usage: node cluster.mjs ws://A/c/ ws://B/c/ ws://C/c/ RESULTS.json TAG");
    process.exit(2);
}

const results = [];
const sockets = [];

function client(url, options) {
    const c = connect(url, options);
    const rec = { c, by: {} };
    for (const name of ["join", "leave", "error", "message", "chat"]) {
        c.on(name, (e) => { (rec.by[name] ??= []).push(e); });
    }
    sockets.push(c);
    return rec;
}

const count = (rec, name) => (rec.by[name] ?? []).length;
const last = (rec, name) => (rec.by[name] ?? []).at(-1);
const check = (cond, what) => { if (!cond) throw new Error(what); };

function waitFor(cond, what, ms = 5000) {
    return new Promise((resolve, reject) => {
        const start = Date.now();
        const poll = () => {
            let v;
            try { v = cond(); } catch (e) { v = false; }
            if (v) return resolve(v);
            if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
            setTimeout(poll, 5);
        };
        poll();
    });
}

// Asks the spec for `step` and waits until it says done.
async function step(name) {
    writeFileSync(`${out}.${name}`, "\n");
    await waitFor(() => existsSync(`${out}.${name}.ok`), `the spec's "${name}"`, 10000);
}

async function scenario(name, fn) {
    try {
        results.push({ name, ok: true, detail: (await fn()) ?? "" });
    } catch (e) {
        results.push({ name, ok: false, detail: String(e && e.message || e) });
    }
}

await scenario("joins, counts and leaves across nodes", async () => {
    const room = `itty-cl-${tag}`;
    const alice = client(baseA + room, { alias: "alice", announce: true });
    await waitFor(() => count(alice, "join") === 1, "alice's own join on A");
    await step("known");
    const bob = client(baseB + room, { alias: "bob", announce: true });
    await waitFor(() => count(bob, "join") === 1, "bob's own join on B");
    check(last(bob, "join").users === 2, `bob's own join on B says users=${last(bob, "join").users}, alice sits on A`);
    await waitFor(() => count(alice, "join") === 2, "alice hears bob join on B");
    const j = last(alice, "join");
    check(j.users === 2 && j.alias === "bob" && j.uid === last(bob, "join").uid, `alice's join for bob: ${JSON.stringify(j)}`);
    alice.c.send({ type: "chat", text: "hi bob" });
    await waitFor(() => count(bob, "chat") === 1, "alice's chat at bob");
    check(last(bob, "chat").alias === "alice", "the chat carries alice's alias across nodes");
    bob.c.close();
    await waitFor(() => count(alice, "leave") === 1, "alice hears bob leave B");
    const l = last(alice, "leave");
    check(l.users === 1 && l.alias === "bob", `leave ${JSON.stringify(l)}`);
    alice.c.close();
    return "users 2 on both nodes; join, chat and leave crossed";
});

await scenario("a SIGKILLed node's clients leave", async () => {
    const room = `itty-kill-${tag}`;
    const alice = client(baseA + room, { alias: "alice", announce: true });
    await waitFor(() => count(alice, "join") === 1, "alice's own join on A");
    const carol = client(baseC + room, { alias: "carol", announce: true });
    const dan = client(baseC + room, { alias: "dan", announce: true });
    await waitFor(() => count(alice, "join") === 3, "alice hears carol and dan join on C");
    check(last(alice, "join").users === 3, `users ${last(alice, "join").users}`);
    await step("kill");
    await waitFor(() => count(alice, "leave") === 2, "two leaves after node C died", 8000);
    const left = alice.by.leave.map((e) => e.alias).sort().join(",");
    check(left === "carol,dan", `left: ${left}`);
    check(last(alice, "leave").users === 1, `users after the deaths: ${last(alice, "leave").users}`);
    carol.c.close(); dan.c.close(); alice.c.close();
    return "leaves of carol and dan, users 1";
});

for (const s of sockets) {
    try { s.close(); } catch (e) { /* already closed */ }
}
writeFileSync(out + ".tmp", JSON.stringify(results));
renameSync(out + ".tmp", out);
process.exit(0);

// The real npm itty-sockets 0.6.1 client (with `ws` as Node's WebSocket)
// against a switchboard relay.  Started by spec/interop_itty_spec.lua:
//   node run.mjs ws://127.0.0.1:PORT/c/ RESULTS.json
// Runs each scenario in turn and writes [{name, ok, detail}] to RESULTS.json
// (written to a temporary name, then renamed, so the spec never reads half).
import { writeFileSync, renameSync } from "node:fs";
import WebSocket from "ws";
import { connect } from "itty-sockets";

globalThis.WebSocket = WebSocket;

const [base, out] = process.argv.slice(2);
if (!base || !out) {
    console.error("usage: node run.mjs ws://HOST:PORT/c/ RESULTS.json");
    process.exit(2);
}

const results = [];
const sockets = [];
const tag = Math.random().toString(36).slice(2, 8);
let seq = 0;

function channel(name) {
    return `${base}itty-${name}-${tag}-${++seq}`;
}

// A client that records every event it sees, by name and in order.
function client(url, options) {
    const c = connect(url, options);
    const rec = { c, all: [], by: {}, opened: false, closed: false };
    const note = (name) => (e) => {
        rec.all.push({ name, e });
        (rec.by[name] ??= []).push(e);
    };
    for (const name of ["join", "leave", "error", "message", "chat"]) c.on(name, note(name));
    c.on("open", () => { rec.opened = true; });
    c.on("close", () => { rec.closed = true; });
    sockets.push(c);
    return rec;
}

const count = (rec, name) => (rec.by[name] ?? []).length;
const last = (rec, name) => (rec.by[name] ?? []).at(-1);

function waitFor(cond, what, ms = 4000) {
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

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, what) {
    if (!cond) throw new Error(what);
}

async function scenario(name, fn) {
    try {
        const detail = await fn();
        results.push({ name, ok: true, detail: detail ?? "" });
    } catch (e) {
        results.push({ name, ok: false, detail: String(e && e.message || e) });
    }
}

await scenario("join counts", async () => {
    const url = channel("join");
    const a = client(url, { alias: "alice", announce: true });
    await waitFor(() => count(a, "join") === 1, "alice's own join");
    check(last(a, "join").users === 1, `alice's own join has users=${last(a, "join").users}`);
    const b = client(url, { alias: "bob", announce: true });
    await waitFor(() => count(a, "join") === 2 && count(b, "join") === 1, "bob's join at both");
    const ja = last(a, "join"), jb = last(b, "join");
    check(ja.users === 2 && jb.users === 2, `users after bob joined: ${ja.users}/${jb.users}`);
    check(ja.alias === "bob" && typeof ja.uid === "string", "alice sees bob's uid and alias");
    check(ja.uid === jb.uid, "same uid in both copies");
    check(typeof ja.date === "number", "date is epoch ms");
    b.c.close();
    await waitFor(() => count(a, "leave") === 1, "bob's leave");
    const l = last(a, "leave");
    check(l.users === 1 && l.alias === "bob" && l.uid === ja.uid, `leave ${JSON.stringify(l)}`);
    a.c.close();
    return `join users 1 -> 2, leave users 1`;
});

await scenario("alias, as, announce and echo", async () => {
    const url = channel("opts");
    const a = client(url, { as: "alice", announce: true, echo: true });
    await waitFor(() => count(a, "join") === 1, "alice's join");
    const b = client(url, { alias: "bob" });           // not announced
    await waitFor(() => count(a, "join") === 2 && count(b, "join") === 1, "bob's join");
    const ja = last(a, "join");
    check(ja.users === 2 && ja.uid === undefined && ja.alias === undefined,
        `an unannounced join shows no uid/alias: ${JSON.stringify(ja)}`);
    a.c.send({ type: "chat", text: "hi" });
    await waitFor(() => count(b, "chat") === 1 && count(a, "chat") === 1, "chat at bob and echo at alice");
    const cb = last(b, "chat");
    check(cb.alias === "alice" && cb.text === "hi" && cb.message.text === "hi", `chat at bob ${JSON.stringify(cb)}`);
    check(count(b, "message") === 1, "the untyped envelope also reaches 'message' listeners");
    check(last(a, "chat").alias === "alice", "the echo carries alice's alias (from ?as=)");
    b.c.send("plain string");
    b.c.send(13);
    b.c.send([1, 2]);
    await waitFor(() => count(a, "message") >= 4, "bob's three messages");
    const got = a.by.message.slice(-3).map((e) => e.message);
    check(JSON.stringify(got) === JSON.stringify(["plain string", 13, [1, 2]]), `values ${JSON.stringify(got)}`);
    check(a.by.message.at(-1).alias === "bob", "bob's alias is on his messages even unannounced");
    await pause(50);
    check(count(b, "message") === 1, "bob (no echo) did not get his own messages back");
    a.c.close();
    b.c.close();
    return "as= works as alias; echo only with echo=true";
});

await scenario("direct messages", async () => {
    const url = channel("dm");
    const a = client(url, { alias: "alice" });
    const b = client(url, { alias: "bob" });
    const c = client(url, { alias: "carol" });
    await waitFor(() => count(b, "join") >= 1 && count(c, "join") >= 1 && count(a, "join") >= 1, "three joins");
    const bobUid = b.by.join[0].uid;
    const aliceUid = a.by.join[0].uid;
    check(typeof bobUid === "string" && bobUid.length > 0, "bob learns his uid from his own join");
    a.c.send({ secret: 1 }, bobUid);
    await waitFor(() => count(b, "message") === 1, "the direct message at bob");
    const m = last(b, "message");
    check(m.secret === 1 && m.uid === aliceUid && m.alias === "alice", `dm ${JSON.stringify(m)}`);
    await pause(50);
    check(count(c, "message") === 0 && count(a, "message") === 0, "nobody else got it");
    a.c.close(); b.c.close(); c.c.close();
    return `alice -> ${bobUid}`;
});

await scenario("error for an unknown uid", async () => {
    const url = channel("err");
    const a = client(url, {});
    await waitFor(() => a.opened, "open");
    a.c.send("x", "nobody");
    await waitFor(() => count(a, "error") === 1, "the error event");
    const e = last(a, "error");
    check(typeof e.message === "string" && e.message.includes("nobody"), `error ${JSON.stringify(e)}`);
    a.c.send("still connected?");
    await pause(20);
    check(!a.closed, "the socket stays open after the error");
    a.c.close();
    return e.message;
});

await scenario("1000 messages in order", async () => {
    const url = channel("order");
    const a = client(url, {});
    const b = client(url, {});
    await waitFor(() => a.opened && b.opened && count(a, "join") === 2, "both open");
    for (let i = 1; i <= 1000; i++) a.c.send({ n: i });
    await waitFor(() => count(b, "message") === 1000, "1000 messages", 15000);
    const ns = b.by.message.map((e) => e.n);
    for (let i = 0; i < 1000; i++) check(ns[i] === i + 1, `message ${i + 1} arrived as ${ns[i]}`);
    a.c.close(); b.c.close();
    return "1..1000";
});

await scenario("push then close", async () => {
    const url = channel("push");
    const a = client(url, { alias: "watcher" });
    await waitFor(() => a.opened && count(a, "join") === 1, "watcher open");
    // push() before the socket opens: send on open, then close at once
    const p = connect(url, { alias: "pusher", announce: true });
    p.push({ bye: true });
    await waitFor(() => count(a, "leave") === 1, "the pusher's leave");
    const order = a.all.filter((x) => x.name !== "join").map((x) => x.name);
    check(count(a, "message") === 1 && last(a, "message").bye === true, "the pushed message arrived");
    check(order.indexOf("message") < order.indexOf("leave"), `order ${order.join(",")}`);
    check(last(a, "message").alias === "pusher", "with the pusher's alias");
    a.c.close();
    return order.join(" then ");
});

// itty-sockets cannot carry bytes itself: send() JSON-encodes (an
// ArrayBuffer becomes "{}") and every frame received goes through
// JSON.parse (a binary frame throws there, which under Node ends the
// process).  So bytes travel on a plain WebSocket that asks for them with
// binary=true, the way a browser page would, next to itty clients on the
// same channel, which never see them.
function plain(url) {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const rec = { ws, bytes: [], texts: [], opened: false };
    ws.onopen = () => { rec.opened = true; };
    ws.onmessage = (e) => {
        if (e.data instanceof ArrayBuffer) rec.bytes.push(new Uint8Array(e.data));
        else rec.texts.push(JSON.parse(e.data));
    };
    return rec;
}

await scenario("ArrayBuffers beside itty clients", async () => {
    const url = channel("bin");
    const itty = client(url, { alias: "alice" });
    await waitFor(() => itty.opened && count(itty, "join") === 1, "the itty client's join");
    const sender = plain(url + "?binary=true&alias=bytes");
    const receiver = plain(url + "?binary=true");
    await waitFor(() => sender.opened && receiver.opened && count(itty, "join") === 3, "two plain sockets");
    const sent = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
    sender.ws.send(sent.buffer);
    await waitFor(() => receiver.bytes.length === 1, "the bytes at the receiver");
    const got = receiver.bytes[0];
    check(got.length === sent.length && got.every((b, i) => b === sent[i]), `bytes ${Array.from(got)}`);
    // the itty client saw none of it and carries on as usual
    itty.c.send({ type: "chat", text: "after the bytes" });
    await waitFor(() => receiver.texts.some((t) => t.message?.text === "after the bytes"), "itty's chat");
    const chat = receiver.texts.find((t) => t.message?.text === "after the bytes");
    check(chat.alias === "alice", `chat ${JSON.stringify(chat)}`);
    check(count(itty, "message") === 0 && count(itty, "error") === 0, "nothing reached the itty client");
    check(sender.bytes.length === 0, "no echo without echo=true");
    // what itty's own send() makes of an ArrayBuffer: JSON, "{}"
    const fromAlice = () => receiver.texts.filter((t) => t.alias === "alice" && "message" in t);
    itty.c.send(new Uint8Array([9, 9]).buffer);
    await waitFor(() => fromAlice().length === 2, "itty's ArrayBuffer");
    const last = fromAlice()[1];
    check(JSON.stringify(last.message) === "{}" && receiver.bytes.length === 1,
        `itty's send(ArrayBuffer) arrived as ${JSON.stringify(last)}`);
    sender.ws.close(); receiver.ws.close(); itty.c.close();
    return `${sent.length} bytes relayed as an ArrayBuffer; itty's send(ArrayBuffer) is the JSON {}`;
});

for (const s of sockets) {
    try { s.close(); } catch (e) { /* already closed */ }
}
writeFileSync(out + ".tmp", JSON.stringify(results));
renameSync(out + ".tmp", out);
process.exit(0);

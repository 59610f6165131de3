// The npm ws client (8.18.0), which offers permessage-deflate by default,
// against a switchboard server.  Started by spec/interop_ws_spec.lua:
//   node run.mjs ws://127.0.0.1:PORT/c/ RESULTS.json
// Writes [{name, ok, detail}] to RESULTS.json (a temporary name, then
// renamed, so the spec never reads half).  One receiver is a bare socket
// that reads the frames as they are on the wire (RSV1) and inflates them
// with Node's own zlib, a second opinion next to ws's.
import { writeFileSync, renameSync } from "node:fs";
import net from "node:net";
import zlib from "node:zlib";
import WebSocket from "ws";

const [base, out] = process.argv.slice(2);
if (!base || !out) {
    console.error("usage: node run.mjs ws://HOST:PORT/c/ RESULTS.json");
    process.exit(2);
}

const results = [];
const sockets = [];
const tag = Math.random().toString(36).slice(2, 8);

function waitFor(cond, what, ms = 5000) {
    return new Promise((resolve, reject) => {
        const start = Date.now();
        const poll = () => {
            if (cond()) return resolve();
            if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
            setTimeout(poll, 5);
        };
        poll();
    });
}

function check(ok, what) {
    if (!ok) throw new Error(what);
}

async function scenario(name, fn) {
    try {
        results.push({ name, ok: true, detail: (await fn()) ?? "" });
    } catch (e) {
        results.push({ name, ok: false, detail: String((e && e.message) || e) });
    }
}

// A ws client recording the envelopes it receives.
async function client(chan, options) {
    const ws = new WebSocket(base + chan, options);
    const rec = { ws, envelopes: [], answer: undefined };
    ws.once("upgrade", (res) => { rec.answer = res.headers["sec-websocket-extensions"]; });
    ws.on("message", (data) => {
        const v = JSON.parse(data.toString());
        if (v && "message" in v) rec.envelopes.push(v.message);
    });
    sockets.push(ws);
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    return rec;
}

// A bare WebSocket client on a TCP socket: offers permessage-deflate and
// keeps each data frame as { rsv1, payload } (payload inflated with
// zlib.inflateRawSync when RSV1 is set, the stripped tail added back).
async function bare(chan) {
    const url = new URL(base + chan);
    const sock = net.connect(Number(url.port), url.hostname);
    const rec = { frames: [], head: null };
    let buf = Buffer.alloc(0);
    sockets.push(sock);
    sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (rec.head === null) {
            const end = buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            rec.head = buf.subarray(0, end).toString();
            buf = buf.subarray(end + 4);
        }
        while (buf.length >= 2) {
            let len = buf[1] & 0x7f, off = 2;
            if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
            else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
            if (buf.length < off + len) return;
            const op = buf[0] & 0x0f, rsv1 = (buf[0] & 0x40) !== 0;
            let payload = buf.subarray(off, off + len);
            buf = buf.subarray(off + len);
            if (op !== 1 && op !== 2) continue;
            if (rsv1) payload = zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 255, 255])]),
                { finishFlush: zlib.constants.Z_SYNC_FLUSH });
            rec.frames.push({ rsv1, text: payload.toString() });
        }
    });
    await new Promise((resolve) => sock.once("connect", resolve));
    sock.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n");
    await waitFor(() => rec.head !== null, "the bare client's 101");
    return rec;
}

// A 1 KiB JSON object, different for each i.
function kib(i) {
    const o = { seq: i, kind: "tick", items: [] };
    while (JSON.stringify(o).length < 1024) o.items.push({ id: o.items.length, name: `item-${i}-${o.items.length}` });
    return o;
}

await scenario("negotiates permessage-deflate without context takeover", async () => {
    const c = await client(`neg-${tag}`);
    const ext = c.answer;
    check(c.ws.extensions === "permessage-deflate", `ws took "${c.ws.extensions}"`);
    check(ext === "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        `Sec-WebSocket-Extensions: ${ext}`);
    const plain = await client(`neg-${tag}`, { perMessageDeflate: false });
    check(plain.ws.extensions === "" && plain.answer === undefined, `without an offer: "${plain.answer}"`);
    return ext;
});

await scenario("broadcast 1 KiB JSON arrives intact, compressed", async () => {
    const chan = `fan-${tag}`;
    const receivers = [await client(chan), await client(chan), await client(chan, { perMessageDeflate: false })];
    const wire = await bare(chan);
    const sender = await client(chan, { perMessageDeflate: false });
    const n = 50;
    for (let i = 0; i < n; i++) sender.ws.send(JSON.stringify(kib(i)));
    const data = () => wire.frames.filter((f) => f.text.includes('"message"'));
    await waitFor(() => receivers.every((r) => r.envelopes.length === n) && data().length === n, "every message");
    for (const r of receivers)
        for (let i = 0; i < n; i++)
            check(JSON.stringify(r.envelopes[i]) === JSON.stringify(kib(i)), `message ${i} differs`);
    check(data().every((f) => f.rsv1), "a 1 KiB broadcast came without RSV1");
    check(data().every((f, i) => JSON.stringify(JSON.parse(f.text).message) === JSON.stringify(kib(i))),
        "zlib's inflate disagrees");
    return `${n} messages to ${receivers.length + 1} receivers`;
});

await scenario("a compressed message from ws reaches the others", async () => {
    const chan = `up-${tag}`;
    const zipped = await client(chan), plain = await client(chan, { perMessageDeflate: false });
    // threshold 0: ws compresses every message, small ones too
    const sender = await client(chan, { perMessageDeflate: { threshold: 0 } });
    check(sender.ws.extensions.startsWith("permessage-deflate"), "sender negotiated nothing");
    const big = kib(7), small = { text: "hi" };
    sender.ws.send(JSON.stringify(big));
    sender.ws.send(JSON.stringify(small));
    sender.ws.send(Buffer.from(JSON.stringify({ bin: true })), { binary: false });
    await waitFor(() => zipped.envelopes.length === 3 && plain.envelopes.length === 3, "three messages");
    for (const r of [zipped, plain]) {
        check(JSON.stringify(r.envelopes[0]) === JSON.stringify(big), "the big one differs");
        check(r.envelopes[1].text === "hi" && r.envelopes[2].bin === true, "the small ones differ");
    }
    return "big and small, to compressing and plain receivers";
});

for (const s of sockets) {
    try { s.close ? s.close() : s.destroy(); } catch (e) { /* already closed */ }
}
writeFileSync(out + ".tmp", JSON.stringify(results));
renameSync(out + ".tmp", out);
process.exit(0);

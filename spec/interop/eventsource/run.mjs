// Drives switchboard's SSE endpoint with the real npm `eventsource` client.
// Usage: node run.mjs http://127.0.0.1:PORT
// The Lua spec (spec/interop_sse_spec.lua) runs the server in-process and
// reacts to two things this script does over HTTP: a POST with
// ?event=kick makes the server end every stream of the channel and publish
// five ticks while they are gone (the "missed" messages).  Prints one JSON
// line per finished scenario and {"done":true} last.
import { EventSource } from 'eventsource';

const base = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(channel, event, body) {
    const r = await fetch(`${base}/sse/${channel}?event=${event}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
}

async function waitFor(cond, what, ms = 8000) {
    const t0 = Date.now();
    while (!cond()) {
        if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${what}`);
        await sleep(10);
    }
}

function collect(es, names) {
    const got = [];
    for (const name of names) {
        es.addEventListener(name, (e) => {
            got.push({ type: name, id: e.lastEventId, data: JSON.parse(e.data) });
        });
    }
    return got;
}

function opened(es) {
    return new Promise((resolve, reject) => {
        es.addEventListener('open', () => resolve(), { once: true });
        setTimeout(() => reject(new Error('no open')), 5000);
    });
}

// 1. live events, then a server-side disconnect during which five ticks are
// published; the client's own reconnect (Last-Event-ID) must bring exactly
// those five, in order, then live ones.
async function resume() {
    const es = new EventSource(`${base}/sse/live`);
    const got = collect(es, ['tick', 'recovery-failed']);
    let errors = 0;
    es.addEventListener('error', () => { errors++; });
    await opened(es);
    await post('live', 'tick', { n: 1 });
    await post('live', 'tick', { n: 2 });
    await waitFor(() => got.length >= 2, 'two live ticks');
    const kick = await post('live', 'kick', {});
    await waitFor(() => got.length >= 7, 'five replayed ticks');
    await post('live', 'tick', { n: 8 });
    await waitFor(() => got.length >= 8, 'live tick after resume');
    await sleep(100);
    es.close();
    out({ scenario: 'resume', kick: kick.status, errors, got });
}

// 2. an id from a channel that has since been recreated.
async function recreated() {
    const es1 = new EventSource(`${base}/sse/fleeting`);
    const got1 = collect(es1, ['tick']);
    await opened(es1);
    await post('fleeting', 'tick', { n: 1 });
    await waitFor(() => got1.length >= 1, 'first tick');
    const oldId = got1[0].id;
    es1.close();
    // the last subscriber left; the stream's timer notices (every 0.3 s in
    // the spec) and the history-less channel goes
    await sleep(1000);
    const es2 = new EventSource(`${base}/sse/fleeting`);
    await opened(es2);  // recreates it (new epoch)
    const es3 = new EventSource(`${base}/sse/fleeting`, {
        fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, 'Last-Event-ID': oldId } }),
    });
    const got3 = collect(es3, ['tick', 'recovery-failed']);
    await opened(es3);
    await post('fleeting', 'tick', { n: 2 });
    await waitFor(() => got3.length >= 2, 'recovery-failed then live');
    es2.close();
    es3.close();
    out({ scenario: 'recreated', oldId, got: got3 });
}

// 3. POST reaches SSE (here) and native WebSocket subscribers (the spec's
// Lua client on the same channel).
async function fanout() {
    const es = new EventSource(`${base}/sse/both`);
    const got = collect(es, ['note']);
    await opened(es);
    const r = await post('both', 'note', { text: 'to everyone' });
    await waitFor(() => got.length >= 1, 'note');
    es.close();
    out({ scenario: 'fanout', status: r.status, receivers: r.body.receivers, got });
}

// 4. keep-alive comments, read from the raw stream (EventSource hides them).
async function keepalive() {
    const ac = new AbortController();
    const r = await fetch(`${base}/sse/quiet`, { signal: ac.signal });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    const t0 = Date.now();
    while (!/(^|\n):\n\n/.test(text) && Date.now() - t0 < 5000) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
    }
    ac.abort();
    out({
        scenario: 'keepalive', status: r.status,
        contentType: r.headers.get('content-type'), text,
    });
}

try {
    await resume();
    await recreated();
    await fanout();
    await keepalive();
    out({ done: true });
    process.exit(0);
} catch (e) {
    out({ error: String(e && e.stack || e) });
    process.exit(1);
}

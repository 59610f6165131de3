// Drives switchboard's Pusher HTTP API with the real npm `pusher` server
// library, and receives its Pusher-format webhooks.
// Usage: node run.mjs http://127.0.0.1:PORT SINK_PORT RESULTS
// The Lua spec (spec/interop_pusher_server_spec.lua) runs the server
// in-process with pusher = { app_id = "1234", key = KEY, secret = SECRET }
// and webhooks to http://127.0.0.1:SINK_PORT/hooks in the Pusher format;
// it has a native client on `interop` and `presence-interop` (as ana)
// and a Phoenix client joined to `interop`, and checks what they got once
// this script wrote RESULTS: a JSON list of { name, ok, detail }.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { createRequire } from 'node:module';
import Pusher from 'pusher';

// the client library too, its Node build: what a trigger reaches
const PusherJS = createRequire(import.meta.url)('pusher-js');

const [base, sinkPort, resultsPath] = process.argv.slice(2);
const url = new URL(base);
const APP = { appId: '1234', key: 'interop-key', secret: 'interop-secret' };
const pusher = new Pusher({ ...APP, host: url.hostname, port: url.port, useTLS: false });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The webhook sink: every request is checked with the library's own
// validator before its events count.
const hooks = [];
const sink = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
        const wh = pusher.webhook({ headers: req.headers, rawBody: raw });
        hooks.push({ valid: wh.isValid(), events: wh.isValid() ? wh.getEvents() : [], raw });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
    });
});

async function waitFor(cond, what, ms = 8000) {
    const t0 = Date.now();
    while (!cond()) {
        if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${what}`);
        await sleep(20);
    }
}

async function json(promise) {
    const res = await promise;
    return res.json();
}

// key order is the server's table order: compare as values
const same = (a, b) => isDeepStrictEqual(a, b);
function expect(cond, what) {
    if (!cond) throw new Error(what);
}

// A pusher-js client subscribed to channel; resolves once it is.
function pusherJs(channel) {
    const p = new PusherJS(APP.key, { wsHost: url.hostname, wsPort: Number(url.port), forceTLS: false,
        enabledTransports: ['ws'], cluster: 'local', enableStats: false });
    const ch = p.subscribe(channel);
    return new Promise((resolve, reject) => {
        ch.bind('pusher:subscription_succeeded', () => resolve({ p, ch }));
        ch.bind('pusher:subscription_error', (e) => reject(new Error(JSON.stringify(e))));
    });
}

// One scenario a name: a new one is one more entry.
const scenarios = {
    'trigger': async () => {
        const body = await json(pusher.trigger('interop', 'greet', { hello: 'world' }));
        expect(same(body, {}), `answer ${JSON.stringify(body)}`);
    },
    'trigger to several channels with info': async () => {
        const body = await json(pusher.trigger(['interop', 'presence-interop'], 'many', 'plain text',
            { info: 'subscription_count' }));
        expect(body.channels.interop.subscription_count === 2, JSON.stringify(body));
        expect(body.channels['presence-interop'].subscription_count === 1, JSON.stringify(body));
    },
    'triggerBatch': async () => {
        const body = await json(pusher.triggerBatch([
            { channel: 'interop', name: 'batch-1', data: { n: 1 } },
            { channel: 'interop', name: 'batch-2', data: { n: 2 } },
        ]));
        expect(same(body, {}), `answer ${JSON.stringify(body)}`);
    },
    'get channels': async () => {
        const body = await json(pusher.get({ path: '/channels',
            params: { filter_by_prefix: 'presence-', info: 'user_count' } }));
        expect(same(body, { channels: { 'presence-interop': { user_count: 1 } } }), JSON.stringify(body));
    },
    'get channel': async () => {
        const body = await json(pusher.get({ path: '/channels/interop', params: { info: 'subscription_count' } }));
        expect(same(body, { occupied: true, subscription_count: 2 }), JSON.stringify(body));
        const none = await json(pusher.get({ path: '/channels/nobody' }));
        expect(same(none, { occupied: false }), JSON.stringify(none));
    },
    'get users': async () => {
        const body = await json(pusher.get({ path: '/channels/presence-interop/users' }));
        expect(same(body, { users: [{ id: 'ana' }] }), JSON.stringify(body));
    },
    'a wrong secret is refused with 401': async () => {
        const bad = new Pusher({ ...APP, secret: 'wrong', host: url.hostname, port: url.port, useTLS: false });
        try {
            await bad.trigger('interop', 'never', {});
        } catch (e) {
            expect(e.status === 401, `status ${e.status}`);
            expect(/^Invalid signature/.test(e.body), `body ${e.body}`);
            return;
        }
        throw new Error('the trigger went through');
    },
    'users of a channel that is no presence channel: 400': async () => {
        try {
            await pusher.get({ path: '/channels/interop/users' });
        } catch (e) {
            expect(e.status === 400, `status ${e.status}`);
            return;
        }
        throw new Error('answered 2xx');
    },
    // last but the webhooks: its subscription would change the counts above
    'a trigger reaches pusher-js, JSON as an object and text as text': async () => {
        const { p, ch } = await pusherJs('interop');
        const got = [];
        ch.bind('to-js', (data) => got.push(data));
        try {
            await pusher.trigger('interop', 'to-js', { from: 'backend', n: [1, 2] });
            await pusher.trigger('interop', 'to-js', 'just text');
            await waitFor(() => got.length === 2, 'two events at pusher-js');
            expect(same(got, [{ from: 'backend', n: [1, 2] }, 'just text']), JSON.stringify(got));
        } finally {
            p.disconnect();
        }
    },
    'webhooks are valid for the library': async () => {
        const all = () => hooks.flatMap((h) => h.events);
        await waitFor(() => all().some((e) => e.name === 'member_added'), 'member_added');
        expect(hooks.every((h) => h.valid), `invalid: ${hooks.filter((h) => !h.valid).map((h) => h.raw)}`);
        const evs = all();
        expect(evs.some((e) => e.name === 'channel_occupied' && e.channel === 'presence-interop'),
            JSON.stringify(evs));
        expect(evs.some((e) => e.name === 'member_added' && e.channel === 'presence-interop' &&
            e.user_id === 'ana'), JSON.stringify(evs));
        // and the validator is no yes-man: a changed body fails it
        const h = hooks[0];
        const forged = pusher.webhook({ headers: { 'x-pusher-key': APP.key,
            'x-pusher-signature': 'ab'.repeat(32), 'content-type': 'application/json' }, rawBody: h.raw });
        expect(!forged.isValid(), 'a forged signature passed');
    },
};

const results = [];
sink.listen(Number(sinkPort), '127.0.0.1', async () => {
    for (const [name, fn] of Object.entries(scenarios)) {
        try {
            await fn();
            results.push({ name, ok: true });
        } catch (e) {
            results.push({ name, ok: false, detail: String(e && e.stack || e) });
        }
    }
    writeFileSync(resultsPath, JSON.stringify(results));
    sink.close();
    process.exit(0);
});

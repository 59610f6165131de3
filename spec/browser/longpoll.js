// phoenix.js in Chromium where WebSockets are blocked: the page's
// WebSocket never opens (a proxy that swallows the upgrade looks the same
// to the page), so after longPollFallbackMs the client falls back to
// LongPoll at /socket/longpoll, joins, pushes and hears the broadcast back.
// Run by spec/browser_longpoll_spec.lua:
//   node longpoll.js http://127.0.0.1:PORT /path/to/phoenix.js
// prints {"scenario": "fallback", ...} and {"done": true, "errors": [...]}.
"use strict";
const { say, launch, Watch, until } = require("./lib");

const base = process.argv[2], phoenixJs = process.argv[3];

async function fallback(browser, watch) {
    const ctx = await browser.createBrowserContext();
    const page = watch.page(await ctx.newPage(), "lp");
    // the network blocks WebSockets: one that never opens
    await page.evaluateOnNewDocument(() => {
        window.WebSocket = class {
            constructor(url) { this.url = url; this.readyState = 0; window.__wsTried = (window.__wsTried || 0) + 1; }
            send() { throw new Error("not open"); }
            close() { this.readyState = 3; }
        };
    });
    // a blank page of the server's origin (the spec serves it)
    await page.goto(base + "/blank.html");
    await page.addScriptTag({ path: phoenixJs });
    const started = Date.now();
    await page.evaluate((b) => {
        window.__got = [];
        const socket = new Phoenix.Socket(b.replace(/^http/, "ws") + "/socket", { longPollFallbackMs: 400 });
        window.__socket = socket;
        socket.connect();
        const ch = socket.channel("room:lp", { user: "lp" });
        ch.on("shout", (p) => window.__got.push(p.text));
        ch.join().receive("ok", () => {
            window.__joined = true;
            ch.push("shout", { text: "over long-polling" });
        });
    }, base);
    await until(page, "the broadcast back over LongPoll", () => window.__got && window.__got.length > 0, null, 15000);
    const r = await page.evaluate(() => ({
        joined: !!window.__joined,
        got: window.__got,
        wsTried: window.__wsTried || 0,
        longpoll: window.__socket.transport === Phoenix.LongPoll,
    }));
    r.scenario = "fallback";
    r.ms = Date.now() - started;
    await ctx.close();
    return r;
}

(async () => {
    const watch = new Watch();
    const browser = await launch();
    try {
        say(await fallback(browser, watch));
        say({ done: true, errors: watch.errors });
    } catch (e) {
        say({ error: String(e && e.stack || e) });
    } finally {
        await browser.close();
    }
})();

// The lobby and ticker pages (examples/public/lobby.html, ticker.html) in
// Chromium, a browser context per person.  Run by
// spec/browser_pages_spec.lua, which serves examples/lobby.lua (two seats
// per game) and examples/ticker.lua in its own process:
//   node pages.js http://127.0.0.1:LOBBY_PORT http://127.0.0.1:TICKER_PORT
// prints {"scenario": "lobby" | "ticker", ...} and {"done": true, ...}.
"use strict";
const { say, launch, Watch, until, shot } = require("./lib");

const lobbyBase = process.argv[2], tickerBase = process.argv[3];
const DESKTOP = { width: 900, height: 560 };

async function person(browser, watch, who, url) {
    const ctx = await browser.createBrowserContext();
    const page = watch.page(await ctx.newPage(), who);
    await page.setViewport(DESKTOP);
    if (url) await page.goto(url);
    return { ctx, page };
}

// The lobby's table as a person reads it: game, seats, what the button says.
function games(page) {
    return page.evaluate(() => Array.from(document.querySelectorAll("#rooms tr[data-game]")).map((tr) => ({
        name: tr.dataset.game,
        count: tr.querySelector("td.count").textContent.trim(),
        button: tr.querySelector("button").textContent,
        enabled: !tr.querySelector("button").disabled,
    })));
}

const seats = (page, name, count) => until(page, name + " at " + count, (a) =>
    Array.from(document.querySelectorAll("#rooms tr[data-game]")).some((tr) =>
        tr.dataset.game === a[0] && tr.querySelector("td.count").textContent.trim() === a[1]), [name, count]);
const meSays = (page, re) => until(page, "#me saying " + re, (src) =>
    new RegExp(src).test(document.getElementById("me").textContent), re);

async function lobby(browser, watch) {
    const r = { scenario: "lobby" };
    const ana = await person(browser, watch, "ana/lobby", lobbyBase + "/lobby.html");
    const ben = await person(browser, watch, "ben/lobby", lobbyBase + "/lobby.html");
    for (const p of [ana.page, ben.page])
        await until(p, "lobby live", () => document.getElementById("status").dataset.state === "online");
    r.empty = await ana.page.evaluate(() => document.getElementById("rooms").textContent.trim());

    // ana starts a game; ben sees it with a free seat and takes it
    await ana.page.click("#new");
    await meSays(ana.page, "^You are in game-");
    const game = await ana.page.evaluate(() => document.querySelector("#rooms tr.mine").dataset.game);
    await seats(ben.page, game, "1 / 2");
    r.benSees = await games(ben.page);
    await ben.page.click(`#rooms tr[data-game="${game}"] button`);
    await meSays(ben.page, "^You are in " + game);
    await seats(ana.page, game, "2 / 2");

    // cat comes later: the game is full, its button says so
    const cat = await person(browser, watch, "cat/lobby", lobbyBase + "/lobby.html");
    await seats(cat.page, game, "2 / 2");
    r.catSees = await games(cat.page);
    await cat.page.click("#new");
    await meSays(cat.page, "^You are in game-");
    const second = await cat.page.evaluate(() => document.querySelector("#rooms tr.mine").dataset.game);
    await seats(ana.page, second, "1 / 2");
    r.anaSees = await games(ana.page);
    await shot(ana.page, "lobby");

    // ana leaves: everyone sees the seat free up
    await ana.page.click("#leave");
    await meSays(ana.page, "^You left " + game);
    await seats(ben.page, game, "1 / 2");
    await seats(cat.page, game, "1 / 2");
    r.afterLeave = await games(cat.page);
    r.anaMe = await ana.page.evaluate(() => document.getElementById("me").textContent);
    for (const p of [ana, ben, cat]) await p.ctx.close();
    return r;
}

const text = (page, id) => page.evaluate((i) => document.getElementById(i).textContent, id);

async function ticker(browser, watch) {
    const r = { scenario: "ticker" };
    const ana = await person(browser, watch, "ana/ticker", tickerBase + "/ticker.html");
    await until(ana.page, "a count", () => /^\d+$/.test(document.getElementById("count").textContent));
    const first = Number(await text(ana.page, "count"));
    await until(ana.page, "the count moving", (n) => Number(document.getElementById("count").textContent) >= n + 2, first);
    r.counted = [first, Number(await text(ana.page, "count"))];
    await until(ana.page, "1 page", () => document.getElementById("sessions").textContent === "1");
    r.alone = (await text(ana.page, "sessions")) + " " + (await text(ana.page, "sessions-word"));

    const ben = await person(browser, watch, "ben/ticker", tickerBase + "/ticker.html");
    for (const p of [ana.page, ben.page])
        await until(p, "2 pages", () => document.getElementById("sessions").textContent === "2");
    r.together = (await text(ana.page, "sessions")) + " " + (await text(ana.page, "sessions-word"));
    r.via = await text(ana.page, "via");
    r.state = await ana.page.evaluate(() => document.getElementById("status").dataset.state);
    await shot(ana.page, "ticker");
    await ben.ctx.close();
    await until(ana.page, "1 page again", () => document.getElementById("sessions").textContent === "1");

    // a network where /sse/ answers 404 (a proxy that strips it): the
    // page falls back to the WebSocket and still counts
    const blocked = watch.expect("SSE blocked on purpose", /404|sse\/ticker/);
    const cat = await person(browser, watch, "cat/ticker");
    await cat.page.setRequestInterception(true);
    cat.page.on("request", (q) => {
        if (q.url().includes("/sse/")) q.respond({ status: 404, contentType: "text/plain", body: "no" });
        else q.continue();
    });
    await cat.page.goto(tickerBase + "/ticker.html");
    await until(cat.page, "the fallback", () => /WebSocket/.test(document.getElementById("via").textContent));
    await until(cat.page, "a count over WebSocket", () => /^\d+$/.test(document.getElementById("count").textContent));
    const n = Number(await text(cat.page, "count"));
    await until(cat.page, "it moving", (k) => Number(document.getElementById("count").textContent) > k, n);
    blocked();
    r.fallback = { via: await text(cat.page, "via"), status: await text(cat.page, "status") };
    await cat.ctx.close();
    await ana.ctx.close();
    return r;
}

(async () => {
    const t0 = Date.now();
    const browser = await launch();
    const watch = new Watch();
    try {
        for (const run of [lobby, ticker]) {
            const t = Date.now();
            const r = await run(browser, watch);
            r.ms = Date.now() - t;
            say(r);
        }
    } finally {
        await browser.close();
    }
    say({ done: true, ms: Date.now() - t0, errors: watch.errors, expected: watch.expected.length });
})().catch((e) => {
    say({ error: String(e && e.stack || e) });
    process.exit(1);
});

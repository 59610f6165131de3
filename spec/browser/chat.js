// The chat page (examples/public/index.html) in Chromium, two users in
// two browser contexts, once per protocol the page offers.  Run by
// spec/browser_chat_spec.lua, which serves examples/chat.lua in its own
// process and stops and starts it when this script asks:
//   node chat.js http://127.0.0.1:PORT native,phoenix,sse
// prints {"ask":"stop"} / {"ask":"start"} when the server should go down
// or come back, one {"scenario": PROTOCOL, ...} line of what the users
// saw per protocol, and {"done": true, "errors": [...], ...} at the end.
"use strict";
const { say, launch, Watch, until, waitFor, shot } = require("./lib");

const base = process.argv[2];
const protocols = (process.argv[3] || "native,phoenix,sse").split(",");
const DESKTOP = { width: 1000, height: 620 };
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };

// What a person reads off a page, in one call.
function view(page) {
    return page.evaluate(() => {
        const texts = (sel) => Array.from(document.querySelectorAll(sel)).map((e) => e.textContent);
        return {
            people: texts("#people li"),
            stale: document.getElementById("people").classList.contains("stale"),
            log: texts("#log > li:not(.missed-group), #log .missed-group li"),
            missed: texts("#log .missed-group li"),
            missedHeading: texts("#log .missed-heading"),
            conn: texts("#log li.conn"),
            typing: document.getElementById("typing").textContent,
            state: document.getElementById("status").dataset.state,
            status: document.getElementById("status").textContent,
            where: document.getElementById("where").textContent,
            inputEnabled: !document.getElementById("text").disabled,
        };
    });
}

const peopleAre = (page, names) => until(page, "people " + names.join(","),
    (want) => Array.from(document.querySelectorAll("#people li")).map((e) => e.textContent).join(",") === want,
    names.join(","));
const logHas = (page, text) => until(page, "a log line with " + text,
    (t) => Array.from(document.querySelectorAll("#log li")).some((li) => li.textContent.includes(t)), text);
const stateIs = (page, states) => until(page, "state " + states,
    (s) => s.split("|").includes(document.getElementById("status").dataset.state), states);

async function say_(page, text) {
    await page.type("#text", text);
    await page.keyboard.press("Enter");
}

// Lines that show the same message twice (a resume must not repeat one).
function doubles(lines) {
    const seen = {}, twice = [];
    lines.filter((l) => !/joined|left|connection lost|offline|joining/.test(l)).forEach((l) => {
        const key = l.replace(/^\d\d:\d\d/, "");
        if (seen[key]) twice.push(l);
        seen[key] = true;
    });
    return twice;
}

async function scenario(browser, watch, proto) {
    const room = "e2e-" + proto;
    const r = { scenario: proto };
    const ctxA = await browser.createBrowserContext();
    const ctxB = await browser.createBrowserContext();
    const a = watch.page(await ctxA.newPage(), "ana/" + proto);
    const b = watch.page(await ctxB.newPage(), "ben/" + proto);
    const sseRequests = [];
    b.on("request", (q) => {
        if (q.url().includes("/sse/")) sseRequests.push({ url: q.url(), lastEventId: q.headers()["last-event-id"] || null });
    });
    // the headers as sent (Last-Event-ID is added below what
    // page.on("request") shows)
    const cdp = await b.createCDPSession();
    await cdp.send("Network.enable");
    cdp.on("Network.requestWillBeSentExtraInfo", (e) => {
        const h = e.headers || {};
        const id = h["Last-Event-ID"] || h["last-event-id"];
        if (id) sseRequests.push({ who: "ben", sentLastEventId: id });
    });
    a.on("request", (q) => {
        if (q.url().includes("/sse/") && q.method() === "GET") sseRequests.push({ who: "ana", url: q.url() });
    });
    await a.setViewport(DESKTOP);
    await b.setViewport(proto === "sse" ? PHONE : DESKTOP);

    // ana fills in the form, as a person would
    await a.goto(base + "/");
    await a.type("#name", "ana");
    await a.click("#room", { clickCount: 3 });
    await a.type("#room", room);
    await a.click(`input[name=proto][value=${proto}]`);
    if (proto === "native") await shot(a, "chat-join");
    await a.click("#join-button");
    await stateIs(a, "online");
    await peopleAre(a, ["ana"]);
    // ben follows a link that says it all
    await b.goto(`${base}/#${room}/ben/${proto}`);
    await peopleAre(b, ["ana", "ben"]);
    await peopleAre(a, ["ana", "ben"]);
    await logHas(a, "ben joined");
    r.where = (await view(b)).where;

    // typing, then messages both ways
    await a.type("#text", "hello ben");
    await until(b, "ana typing", () => document.getElementById("typing").textContent === "ana is typing…");
    r.typingSeen = (await view(b)).typing;
    await a.keyboard.press("Enter");
    await logHas(b, "hello ben");
    await until(b, "typing gone", () => document.getElementById("typing").textContent === "");
    await say_(b, "hi ana");
    await logHas(a, "hi ana");

    // ana's network goes; then the server restarts; ben talks; ana's
    // network comes back and her page shows what she missed, marked
    const anaCut = watch.expect("ana offline");
    await a.setOfflineMode(true);
    await stateIs(a, "offline");
    await peopleAre(b, ["ben"]);
    await logHas(b, "ana left");
    r.offline = await view(a);

    const serverCut = watch.expect("server restart");
    say({ ask: "stop" });
    await stateIs(b, "retrying|connecting");
    r.duringRestart = await view(b);
    if (proto === "native") await shot(b, "chat-reconnecting");
    say({ ask: "start" });
    await stateIs(b, "online");
    await until(b, "ben's reconnect noted", () =>
        Array.from(document.querySelectorAll("#log li.conn")).some((li) => /back at/.test(li.textContent)));
    await peopleAre(b, ["ben"]);
    serverCut();
    await say_(b, "while you were away");
    await logHas(b, "while you were away");
    await a.setOfflineMode(false);
    await stateIs(a, "online");
    await until(a, "the missed message, marked", () =>
        Array.from(document.querySelectorAll("#log .missed-group li")).some((li) => li.textContent.includes("while you were away")));
    await until(a, "ana's reconnect noted", () =>
        Array.from(document.querySelectorAll("#log li.conn")).some((li) => /back at/.test(li.textContent)));
    await peopleAre(a, ["ana", "ben"]);
    await logHas(b, "ana joined");
    anaCut();
    r.afterA = await view(a);
    r.afterB = await view(b);
    r.doublesA = doubles(r.afterA.log);
    r.doublesB = doubles(r.afterB.log);
    r.sse = sseRequests;

    // one more message each way after all that
    await say_(a, "back again");
    await logHas(b, "back again");
    await shot(a, "chat-" + proto);
    if (proto === "sse") await shot(b, "chat-phone");
    r.phone = proto === "sse" ? await b.evaluate(() => {
        const send = document.getElementById("send").getBoundingClientRect();
        const people = document.querySelector("aside").getBoundingClientRect();
        return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                 sendRight: send.right, sendBottom: send.bottom, innerHeight: window.innerHeight,
                 peopleTop: people.top, peopleHeight: people.height };
    }) : null;

    // ben closes his page: ana sees him leave
    await b.close();
    await ctxB.close();
    await peopleAre(a, ["ana"]);
    await logHas(a, "ben left");
    r.afterClose = await view(a);
    await ctxA.close();
    return r;
}

(async () => {
    const t0 = Date.now();
    const browser = await launch();
    const watch = new Watch();
    try {
        for (const proto of protocols) {
            const t = Date.now();
            const r = await scenario(browser, watch, proto);
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

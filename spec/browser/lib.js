// What the browser drivers share (spec/browser/*.js, run by the
// spec/browser_*_spec.lua specs): one Chromium, what a page logs, waits
// with deadlines, and the JSON lines the spec reads.
"use strict";
const fs = require("fs");
const path = require("path");
const puppeteer = require("puppeteer-core");

// One JSON value per line on stdout: the spec reads them as they come.
function say(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

async function launch() {
    return puppeteer.launch({
        executablePath: process.env.SB_CHROMIUM || "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-dev-shm-usage"],
        headless: true,
    });
}

// Everything a page says is wrong: console errors, uncaught exceptions,
// requests that failed and answers of 400 or more.  Errors while the spec
// cut the network or the server on purpose (`expect` windows) are kept
// apart when they are the ones such a cut gives.
const CUT = new RegExp(["ERR_CONNECTION_REFUSED", "ERR_INTERNET_DISCONNECTED", "ERR_CONNECTION_RESET",
    "ERR_ABORTED", "ERR_INCOMPLETE_CHUNKED_ENCODING", "ERR_EMPTY_RESPONSE",
    "WebSocket connection to .* failed", "Failed to load resource: net::"].join("|"));

class Watch {
    constructor() {
        this.errors = [];
        this.expected = [];
        this.windows = [];
    }
    // Opens a window in which a cut's errors (or those matching `pattern`)
    // are expected; returns the function that closes it.
    expect(why, pattern) {
        const w = { why, from: Date.now(), to: Infinity, pattern: pattern || CUT };
        this.windows.push(w);
        return () => { w.to = Date.now() + 300; };
    }
    note(who, kind, text) {
        const now = Date.now();
        const entry = { who, kind, text };
        if (this.windows.some((w) => now >= w.from && now <= w.to && w.pattern.test(text)))
            this.expected.push(entry);
        else
            this.errors.push(entry);
    }
    page(page, who) {
        page.on("console", (m) => { if (m.type() === "error") this.note(who, "console", m.text()); });
        page.on("pageerror", (e) => this.note(who, "exception", String(e && e.message || e)));
        page.on("requestfailed", (r) => {
            this.note(who, "request", r.url() + " " + (r.failure() ? r.failure().errorText : ""));
        });
        page.on("response", (r) => {
            if (r.status() >= 400) this.note(who, "status", r.status() + " " + r.url());
        });
        return page;
    }
}

// Resolves once fn() (run in the page) is truthy; rejects after `ms`
// with what the page showed, so a failure says why.
async function until(page, what, fn, arg, ms = 10000) {
    try {
        return await page.waitForFunction(fn, { timeout: ms, polling: 50 }, arg);
    } catch (e) {
        const body = await page.evaluate(() => document.body.innerText).catch(() => "?");
        throw new Error("timed out waiting for " + what + "; the page showed:\n" + body.slice(0, 1500));
    }
}

// Resolves once cond() (here, in node) is truthy.
async function waitFor(what, cond, ms = 10000) {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await cond();
        if (v) return v;
        if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
        await new Promise((r) => setTimeout(r, 50));
    }
}

function shotDir() {
    const dir = process.env.SB_SCREENSHOTS || path.join(__dirname, "..", "..", ".build", "screenshots");
    fs.mkdirSync(dir, { recursive: true });
    return dir;
}

async function shot(page, name) {
    const file = path.join(shotDir(), name + ".png");
    await page.screenshot({ path: file });
    return file;
}

module.exports = { say, launch, Watch, until, waitFor, shot };

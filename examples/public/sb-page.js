// What the example pages share: one reconnecting connection to a channel
// over any of switchboard's three wire protocols, the line that says how
// that connection is doing, a log, and a presence list.  Plain script (no
// build step); it defines window.SB.
//
//   var conn = SB.connect({ protocol: "native" | "phoenix" | "sse", channel: "room:lobby", ... })
//       .on("event", function (ev) { ... })    // ev.event, ev.payload, ev.missed, ...
//       .on("state", function (state, info) { ... });
//   conn.send("new_msg", { body: "hi" });
//   SB.status(document.getElementById("status"), conn);
//
// The wire formats are docs/protocols.md; how a page that comes back gets
// what it missed is docs/sse.md ("Resuming") and examples/README.md.
"use strict";

(function (global) {
    var SB = {};

    function parse(text) {
        try { return JSON.parse(text); } catch (e) { return undefined; }
    }

    function query(params) {
        var parts = [];
        Object.keys(params || {}).forEach(function (k) {
            var v = params[k];
            if (v !== undefined && v !== null && v !== false)
                parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
        });
        return parts.length ? "?" + parts.join("&") : "";
    }

    function wsBase() {
        return (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
    }

    // 250 ms doubling up to 10 s, each wait between half and all of that
    // (jitter: a restarted server is not hit by every page at once)
    function backoff(attempt) {
        return Math.min(10000, 250 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    }

    SB.backoff = backoff;

    // A native frame as an event: server events {type, message, date, id},
    // plain relayed messages {uid, alias, message, date, id}, and the join
    // and leave frames {type, users, uid, alias, self, date}.
    function nativeEvent(f) {
        if (!f || typeof f !== "object" || Array.isArray(f)) return null;
        var ev = { event: f.type || "message", payload: f.message, id: f.id, date: f.date,
                   uid: f.uid, alias: f.alias };
        if (f.type === "join" || f.type === "leave") {
            ev.users = f.users;
            ev.self = f.self === true;
        }
        return ev;
    }

    /* SB.connect(opts): a connection that reconnects by itself until
     * close().  opts:
     *   protocol  "native" (ws /c/<channel>), "phoenix" (ws /socket/websocket,
     *             V2 JSON) or "sse" (EventSource /sse/<channel>, sends by POST)
     *   channel   the channel (Phoenix: the topic)
     *   query     extra URL parameters (native, sse), e.g. { alias: "ana" }
     *   params    function () -> Phoenix join params, asked at every join
     *   events    SSE: the event names to listen to ("message" always)
     *   recover   native: ask for ids, and after a reconnect for what was
     *             missed (?since=); SSE always resumes (Last-Event-ID)
     *   liveAfter SSE: the event the server sends once a stream's replay is
     *             over; events before it, on a stream that resumed, are missed
     *   fallback  SSE: "native" when the stream never opened (no SSE there)
     *   reconnect false: one try (state "closed", info.neverOpened when the
     *             server refused it)
     * Emits "event" (ev; ev.missed: it came back from the channel's
     * history after a reconnect), "caught-up" (after a reconnect: what was missed has come),
     * "recovery-failed" ({reason}: what was missed cannot be had),
     * "state" (state, info), "joined" (Phoenix join reply, rejoin?) and
     * "refused" (reason). */
    SB.connect = function (opts) {
        var listeners = {};
        var conn = { protocol: opts.protocol, state: "connecting" };
        var sock = null, es = null, attempt = 0, timer = null, wanted = true;
        var everOpen = false, lastId = null, retryAt = 0;
        var resuming = false;     // what arrives now came back from history
        var catchingUp = false;   // a reconnect whose replay is not over yet
        var phx = { ref: 0, joinRef: null, heartbeat: null };

        function emit(name) {
            var args = Array.prototype.slice.call(arguments, 1);
            (listeners[name] || []).forEach(function (fn) { fn.apply(null, args); });
        }

        conn.on = function (name, fn) {
            (listeners[name] = listeners[name] || []).push(fn);
            return conn;
        };

        function setState(state, info) {
            conn.state = state;
            emit("state", state, info || {});
        }

        function deliver(ev) {
            if (!ev) return;
            if (ev.id) lastId = ev.id;
            if (resuming && ev.id) ev.missed = true;
            emit("event", ev);
        }

        function opened() {
            attempt = 0;
            setState("online", { again: everOpen });
            everOpen = true;
        }

        // After an unexpected end: wait for the network if the browser
        // says it is gone, else back off and try again.
        function lost(info) {
            sock = null;
            clearInterval(phx.heartbeat);
            if (!wanted) return;
            if (opts.reconnect === false) {
                wanted = false;
                info.neverOpened = !everOpen;
                setState("closed", info);
                return;
            }
            if (navigator.onLine === false) {
                setState("offline", info);
                return;
            }
            var delay = backoff(attempt++);
            retryAt = Date.now() + delay;
            setState("retrying", { inMs: delay, at: retryAt, reason: info && info.reason });
            clearTimeout(timer);
            timer = setTimeout(open, delay);
        }

        function openNative() {
            var q = {};
            Object.keys(opts.query || {}).forEach(function (k) { q[k] = opts.query[k]; });
            if (opts.recover) {
                q.recover = "true";
                if (lastId) q.since = lastId;
            }
            var s = new WebSocket(wsBase() + "/c/" + encodeURIComponent(opts.channel) + query(q));
            sock = s;
            s.onopen = function () {
                if (sock !== s) return;
                // what comes before our own join event is the replay
                resuming = !!q.since;
                catchingUp = everOpen;
                opened();
            };
            s.onmessage = function (m) {
                if (sock !== s) return;
                var ev = nativeEvent(parse(m.data));
                if (!ev) return;
                if (ev.event === "join" && ev.self && catchingUp) {
                    resuming = catchingUp = false;
                    emit("caught-up");
                }
                if (ev.event === "recovery-failed") {
                    resuming = catchingUp = false;
                    lastId = null;
                    emit("recovery-failed", ev.payload || {});
                    return;
                }
                deliver(ev);
            };
            s.onclose = function (e) {
                if (sock !== s) return;
                resuming = catchingUp = false;
                lost({ code: e.code, reason: e.reason });
            };
        }

        function phxSend(s, joinRef, topic, event, payload) {
            s.send(JSON.stringify([joinRef, String(++phx.ref), topic, event, payload]));
        }

        function openPhoenix() {
            var s = new WebSocket(wsBase() + "/socket/websocket?vsn=2.0.0");
            var rejoin = everOpen;
            sock = s;
            s.onopen = function () {
                if (sock !== s) return;
                phx.joinRef = String(++phx.ref);
                s.send(JSON.stringify([phx.joinRef, phx.joinRef, opts.channel, "phx_join",
                    opts.params ? opts.params(rejoin) : {}]));
                clearInterval(phx.heartbeat);
                phx.heartbeat = setInterval(function () {
                    if (s.readyState === 1) phxSend(s, null, "phoenix", "heartbeat", {});
                }, 30000);
            };
            s.onmessage = function (m) {
                if (sock !== s) return;
                var f = parse(m.data);
                if (!Array.isArray(f) || f.length < 5) return;
                var event = f[3], payload = f[4] || {};
                if (event === "phx_reply" && f[1] === phx.joinRef) {
                    if (payload.status === "ok") {
                        opened();
                        emit("joined", payload.response || {}, rejoin);
                    } else {
                        wanted = false;
                        var r = payload.response && payload.response.reason;
                        emit("refused", typeof r === "string" ? r : JSON.stringify(r));
                        s.close();
                    }
                } else if (event === "phx_error" || event === "phx_close") {
                    s.close();
                } else if (event !== "phx_reply") {
                    deliver({ event: event, payload: payload });
                }
            };
            s.onclose = function (e) {
                if (sock !== s) return;
                lost({ code: e.code, reason: e.reason });
            };
        }

        // EventSource reconnects by itself, sending Last-Event-ID; it is
        // replaced only when it gave up (readyState CLOSED: an HTTP error)
        // or when the network went away.
        function openSSE() {
            var q = {};
            Object.keys(opts.query || {}).forEach(function (k) { q[k] = opts.query[k]; });
            // a new EventSource knows no Last-Event-ID: the URL says it
            if (lastId) q.lastEventId = lastId;
            var source = new EventSource("/sse/" + encodeURIComponent(opts.channel) + query(q));
            var sawId = !!lastId;
            es = source;
            source.onopen = function () {
                if (es !== source) return;
                resuming = sawId && !!opts.liveAfter;
                catchingUp = everOpen && !!opts.liveAfter;
                opened();
            };
            source.onerror = function () {
                if (es !== source) return;
                resuming = catchingUp = false;
                if (source.readyState === 2) {
                    es = null;
                    if (!everOpen && opts.fallback === "native") {
                        conn.protocol = "native";
                        setState("fallback", { to: "native" });
                        open();
                        return;
                    }
                    lost({ reason: "stream refused" });
                } else if (everOpen) {
                    setState("retrying", { reason: "stream lost", browser: true });
                }
            };
            function listen(name) {
                source.addEventListener(name, function (m) {
                    if (es !== source) return;
                    if (m.lastEventId) sawId = true;
                    if (name === "recovery-failed") {
                        resuming = catchingUp = false;
                        lastId = null;
                        emit("recovery-failed", parse(m.data) || {});
                        return;
                    }
                    if (name === opts.liveAfter && catchingUp) {
                        resuming = catchingUp = false;
                        emit("caught-up");
                    }
                    var ev = { event: name, payload: parse(m.data), id: m.lastEventId || undefined };
                    // a native client's message reaches streams as its payload
                    deliver(ev);
                });
            }
            ["message", "recovery-failed"].concat(opts.events || []).forEach(listen);
        }

        function open() {
            clearTimeout(timer);
            if (!wanted) return;
            setState("connecting", { again: everOpen });
            if (conn.protocol === "sse") openSSE();
            else if (conn.protocol === "phoenix") openPhoenix();
            else openNative();
        }

        function drop() {
            clearTimeout(timer);
            clearInterval(phx.heartbeat);
            if (sock) { var s = sock; sock = null; s.close(); }
            if (es) { var e = es; es = null; e.close(); }
            resuming = catchingUp = false;
        }

        /* Sends event with payload (an object): native {type: event, ...},
         * a Phoenix push, or a POST to /sse/<channel>?event=.  Returns
         * false when it could not go out now. */
        conn.send = function (event, payload) {
            if (conn.state !== "online") return false;
            if (conn.protocol === "sse") {
                var q = { event: event };
                Object.keys(opts.query || {}).forEach(function (k) { q[k] = opts.query[k]; });
                fetch("/sse/" + encodeURIComponent(opts.channel) + query(q), {
                    method: "POST", headers: { "content-type": "application/json" },
                    body: JSON.stringify(payload)
                }).then(function (r) {
                    if (r.status !== 202) return r.json().then(function (b) { emit("refused", b.error); });
                }, function () { /* the stream tells the state */ });
                return true;
            }
            if (!sock || sock.readyState !== 1) return false;
            if (conn.protocol === "phoenix") {
                phxSend(sock, phx.joinRef, opts.channel, event, payload);
            } else {
                var msg = { type: event };
                Object.keys(payload || {}).forEach(function (k) { msg[k] = payload[k]; });
                sock.send(JSON.stringify(msg));
            }
            return true;
        };

        conn.close = function () {
            wanted = false;
            drop();
            global.removeEventListener("offline", onOffline);
            global.removeEventListener("online", onOnline);
            setState("closed");
        };

        // the browser knows when the network is gone: wait for it rather
        // than retry into nothing, and come back as soon as it is there
        function onOffline() {
            if (!wanted) return;
            drop();
            setState("offline", {});
        }
        function onOnline() {
            if (wanted && (conn.state === "offline" || conn.state === "retrying")) {
                attempt = 0;
                open();
            }
        }
        global.addEventListener("offline", onOffline);
        global.addEventListener("online", onOnline);

        setTimeout(open, 0);
        return conn;
    };

    /* SB.status(el, conn): keeps el saying how conn is doing, with a
     * class per state (sb-online, sb-connecting, sb-retrying, sb-offline,
     * sb-closed) for the dot in sb-page.css. */
    SB.status = function (el, conn, describe) {
        var tick = null;
        function show(state, info) {
            clearInterval(tick);
            el.className = (el.className.replace(/\bsb-\S+/g, "").trim() + " sb-state sb-" + state).trim();
            el.dataset.state = state;
            function text() {
                switch (state) {
                case "online": return describe ? describe(conn) : "connected";
                case "connecting": return info.again ? "reconnecting…" : "connecting…";
                case "retrying":
                    if (info.browser) return "connection lost, reconnecting…";
                    var s = Math.max(0, Math.ceil((info.at - Date.now()) / 1000));
                    return "connection lost, retrying in " + s + " s";
                case "offline": return "offline: waiting for the network";
                case "fallback": return "no event stream here, trying WebSocket…";
                default: return "not connected";
                }
            }
            el.textContent = text();
            if (state === "retrying" && !info.browser)
                tick = setInterval(function () { el.textContent = text(); }, 500);
        }
        conn.on("state", show);
        show(conn.state, {});
    };

    function clock(ms) {
        return (ms ? new Date(ms) : new Date()).toTimeString().slice(0, 5);
    }

    /* SB.log(ul): a message log that stays scrolled to the bottom while
     * the reader is there.  line(kind, user, text, date) adds one line;
     * missed(n) opens a group of n lines that came back from history
     * (the lines after it, until end-of-group, carry class "missed"). */
    SB.log = function (ul) {
        var log = {}, group = null;
        log.line = function (kind, user, text, date) {
            var li = document.createElement("li");
            var t = document.createElement("time");
            t.textContent = clock(date);
            li.appendChild(t);
            if (kind) li.className = kind;
            if (user) {
                var u = document.createElement("span");
                u.className = "user";
                u.textContent = user;
                li.appendChild(u);
            }
            li.appendChild(document.createTextNode(text));
            var atBottom = ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 4;
            (group || ul).appendChild(li);
            if (atBottom) ul.scrollTop = ul.scrollHeight;
            return li;
        };
        // lines that were sent while this page was away, under a heading
        log.missed = function (heading) {
            var li = document.createElement("li");
            li.className = "missed-group";
            var h = document.createElement("div");
            h.className = "missed-heading";
            h.textContent = heading;
            li.appendChild(h);
            var inner = document.createElement("ul");
            li.appendChild(inner);
            ul.appendChild(li);
            group = inner;
            return { heading: h, end: function () { group = null; } };
        };
        log.clear = function () { ul.textContent = ""; group = null; };
        return log;
    };

    /* SB.people(ul): renders a list of names, `me` in bold; stale(true)
     * greys it out (the last list known, while disconnected). */
    SB.people = function (ul) {
        var p = { names: [] };
        p.render = function (names, me) {
            p.names = names.slice();
            ul.textContent = "";
            names.forEach(function (name) {
                var li = document.createElement("li");
                li.textContent = name;
                if (name === me) {
                    li.className = "me";
                    li.title = "you";
                }
                ul.appendChild(li);
            });
        };
        p.stale = function (on) { ul.classList.toggle("stale", on); };
        return p;
    };

    global.SB = SB;
})(window);

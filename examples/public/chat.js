// The chat page (examples/chat.lua): one room, over the protocol picked
// in the form; the connection itself is sb-page.js.  The room's events
// (examples/README.md, "Chat events"), the same on every protocol:
//   new_msg {user, body}, typing {user, typing}, presence {users, typing}
// and the page sends new_msg {body} and typing {typing} (over SSE, by POST,
// with its own name in them: {user, body}).
"use strict";

(function () {
    var $ = function (id) { return document.getElementById(id); };
    var log = SB.log($("log")), people = SB.people($("people"));
    var text = $("text"), sendButton = $("send"), typingLine = $("typing");

    var NAMES = { native: "WebSocket", phoenix: "Phoenix Channels", sse: "Server-Sent Events" };

    var conn = null, me = null, room = null, proto = null;
    var present = null;        // the room's list, null until the first one
    var typingUsers = {};      // user -> true
    var typingSent = 0, typingTimer = null;
    var away = null;           // the log line that says the connection is lost
    var missed = null;         // { group, count } while history comes back
    var phx = { position: null, seen: 0 };   // Phoenix: where the last join started

    // cjson encodes an empty Lua table as {}: treat anything else as empty.
    function list(v) { return Array.isArray(v) ? v : []; }

    function show(value) {
        return typeof value === "string" ? value : JSON.stringify(value);
    }

    function renderTyping() {
        var names = Object.keys(typingUsers).filter(function (u) {
            return u !== me && present && present.indexOf(u) >= 0;
        });
        typingLine.textContent = names.length === 0 ? "" :
            names.join(", ") + (names.length === 1 ? " is typing…" : " are typing…");
    }

    function enable(on) {
        text.disabled = !on;
        sendButton.disabled = !on;
        if (on && document.activeElement !== text) text.focus();
    }

    // A message line, in the group of missed ones while history comes back.
    function message(m, date, fromHistory) {
        if (fromHistory) {
            if (!missed) missed = { group: log.missed("Sent while you were away"), count: 0 };
            missed.count++;
        } else {
            endMissed();
        }
        var kind = m.user === "bot" ? "bot" : m.user === me ? "mine" : "";
        log.line(kind, m.user, show(m.body), date);
    }

    // The replay is over: say how much came back.
    function endMissed() {
        if (missed) {
            missed.group.heading.textContent = missed.count + (missed.count === 1 ?
                " message sent while you were away" : " messages sent while you were away");
            missed.group.end();
            missed = null;
        }
    }

    // The line that says we were away ends with how it went.
    function back(how) {
        if (!away) return;
        away.lastChild.textContent = " — back at " + new Date().toTimeString().slice(0, 5) + how;
        away = null;
    }

    function caughtUp() {
        if (missed) {
            back(", " + missed.count + (missed.count === 1 ? " missed message" : " missed messages") +
                 " marked below");
            endMissed();
        } else {
            back(", nothing missed");
        }
    }

    // Who came and went, from two lists of the room.
    function arrivals(before, after) {
        if (!before) return;
        after.forEach(function (u) {
            if (before.indexOf(u) < 0 && u !== me) log.line("system", null, u + " joined");
        });
        before.forEach(function (u) {
            if (after.indexOf(u) < 0 && u !== me) log.line("system", null, u + " left");
        });
    }

    function onEvent(ev) {
        var m = ev.payload || {};
        switch (ev.event) {
        case "new_msg":
            if (!ev.missed && proto === "phoenix") phx.seen++;
            message(m, ev.date, ev.missed);
            delete typingUsers[m.user];
            renderTyping();
            break;
        case "typing":
            if (ev.missed) break;   // old news
            if (m.typing) typingUsers[m.user] = true; else delete typingUsers[m.user];
            renderTyping();
            break;
        case "presence":
            if (ev.missed) break;
            var users = list(m.users);
            arrivals(present, users);
            present = users;
            people.render(users, me);
            people.stale(false);
            $("people-note").hidden = true;
            typingUsers = {};
            list(m.typing).forEach(function (u) { typingUsers[u] = true; });
            renderTyping();
            break;
        case "error":
            log.line("error", null, "error: " + show(m), ev.date);
            break;
        case "message":
            // a plain itty-sockets message from some other client
            if (ev.missed || ev.uid || ev.alias) log.line("", ev.alias || ev.uid || "someone", show(m), ev.date);
            break;
        default:
            break;
        }
    }

    function onState(state) {
        var where = me + " in room:" + room;
        if (state === "online") {
            // the line saying we were away is finished by caughtUp
            enable(true);
            return;
        }
        enable(false);
        if (state === "closed") return;
        if (state === "connecting" && !away) return;   // the first try
        if (!away) {
            away = log.line("conn", null, state === "offline" ? "offline (no network)" : "connection lost");
            away.appendChild(document.createTextNode(""));
        }
        typingSent = 0;
        typingUsers = {};
        renderTyping();
        if (present) {
            people.stale(true);
            $("people-note").hidden = false;
        }
        $("where").title = where;
    }

    function join(name, r, p) {
        if (conn) conn.close();
        me = name;
        room = r;
        proto = p;
        present = null;
        typingUsers = {};
        away = missed = null;
        phx = { position: null, seen: 0 };
        log.clear();
        people.render([], me);
        people.stale(false);
        $("people-note").hidden = true;
        renderTyping();
        $("join").hidden = true;
        $("room-view").hidden = false;
        $("change").hidden = false;
        var where = $("where");
        where.textContent = "";
        [me, " in ", "room:" + room, " · " + NAMES[proto]].forEach(function (part, i) {
            var node = i === 0 || i === 2 ? document.createElement("b") : document.createTextNode(part);
            if (node.nodeType === 1) node.textContent = part;
            where.appendChild(node);
        });
        text.placeholder = room === "lobby" ? "say something (try /time)" : "say something";
        log.line("system", null, "joining room:" + room + " as " + me + " over " + NAMES[proto]);
        history.replaceState(null, "", "#" + [room, me, proto].map(encodeURIComponent).join("/"));

        var topic = "room:" + room;
        conn = SB.connect({
            protocol: proto, channel: topic, recover: true,
            query: proto === "sse" ? { user: me } : { alias: me, announce: "true" },
            // (not "error": EventSource fires its own events of that name)
            events: ["new_msg", "typing", "presence", "joined"],
            liveAfter: "joined",
            params: function (rejoin) {
                var p = { user: me, recover: true };
                if (rejoin && phx.position) {
                    p.since = phx.position;
                    p.seen = phx.seen;
                }
                return p;
            }
        });
        SB.status($("status"), conn);
        conn.on("event", onEvent);
        conn.on("state", onState);
        conn.on("caught-up", caughtUp);
        conn.on("recovery-failed", function (f) {
            var why = { "history-expired": "the room's history no longer reaches back",
                        "epoch-changed": "the room was started anew (a server restart without its history)",
                        "unknown-channel": "the server no longer knows this room" }[f.reason] || f.reason;
            log.line("error", null, "What was said while you were away is lost: " + why + ".");
            back("");
        });
        conn.on("joined", function (reply, rejoin) {
            // Phoenix: the reply holds what the page missed since its last join
            if (rejoin) {
                list(reply.missed).forEach(function (m) { message(m, m.date, true); });
                if (reply.missed_error) {
                    log.line("error", null, "What was said while you were away is lost: " + reply.missed_error + ".");
                    missed = null;
                    back("");
                }
                caughtUp();
            }
            phx.position = reply.position || null;
            phx.seen = 0;
        });
        conn.on("refused", function (reason) {
            log.line("error", null, "refused: " + reason);
        });
    }

    // typing: true when typing starts and every 3 s while it goes on
    // (the room forgets it after 5 s), false after 3 s without a key
    function setTyping(on) {
        clearTimeout(typingTimer);
        if (on) {
            typingTimer = setTimeout(function () { setTyping(false); }, 3000);
            if (Date.now() - typingSent < 3000) return;
            typingSent = Date.now();
        } else {
            if (!typingSent) return;
            typingSent = 0;
        }
        var payload = { typing: on };
        if (proto === "sse") payload.user = me;
        if (conn) conn.send("typing", payload);
    }

    $("join").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var name = $("name").value.trim(), r = $("room").value.trim();
        var p = (document.querySelector("input[name=proto]:checked") || {}).value || "native";
        if (!name || !r) return;
        if (!/^[A-Za-z0-9_.:@\/-]+$/.test(r)) {
            $("join-error").textContent = "Room names use letters, digits and _ . : @ / - only.";
            return;
        }
        $("join-error").textContent = "";
        join(name, r, p);
    });

    $("change").addEventListener("click", function () {
        if (conn) conn.close();
        conn = null;
        $("join").hidden = false;
        $("room-view").hidden = true;
        $("change").hidden = true;
        $("where").textContent = "not in a room";
        $("name").focus();
    });

    $("say").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var body = text.value.trim();
        if (!body || !conn) return;
        var payload = { body: body };
        if (proto === "sse") payload.user = me;
        if (conn.send("new_msg", payload)) {
            text.value = "";
            setTyping(false);
        }
    });

    text.addEventListener("input", function () { setTyping(text.value.length > 0); });

    // #room/name[/protocol] in the address joins straight away (handy for two tabs)
    var hash = location.hash.slice(1).split("/").map(function (s) {
        try { return decodeURIComponent(s); } catch (e) { return ""; }
    });
    if (hash[0]) $("room").value = hash[0];
    if (NAMES[hash[2]]) document.querySelector("input[name=proto][value=" + hash[2] + "]").checked = true;
    if (hash[0] && hash[1]) {
        $("name").value = hash[1];
        $("join").requestSubmit ? $("join").requestSubmit() :
            $("join").dispatchEvent(new Event("submit", { cancelable: true }));
    } else {
        $("name").focus();
    }
})();

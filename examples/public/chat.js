// The chat page's own small client for switchboard's native protocol (or,
// chosen in the form, Phoenix Channels V2 on /socket/websocket)
// (itty-sockets compatible): one WebSocket per room at
// ws://HOST/c/room:<name>?alias=<user>&announce=true.  Frames from the
// server are JSON envelopes: {type, message, date} for server events
// (new_msg, typing, presence, join, leave, error) and {uid, alias, date,
// message} for plain messages relayed from other itty clients.
"use strict";

(function () {
    var $ = function (id) { return document.getElementById(id); };
    var log = $("log"), people = $("people"), typingLine = $("typing"), statusLine = $("status");
    var text = $("text"), sendButton = $("send");

    var ws = null;            // the current socket
    var me = null, room = null;
    var wanted = false;       // reconnect after an unexpected close
    var attempt = 0;          // for the reconnect backoff
    var online = false;       // the socket is open
    var lost = false;         // the log says we are cut off (until the next open)
    var everOpen = false;     // this room's socket was open once
    var present = [];         // users in the room
    var typingUsers = {};     // user -> true
    var typingSent = false, typingTimer = null;

    // cjson encodes an empty Lua table as {}: treat anything else as empty.
    function list(v) { return Array.isArray(v) ? v : []; }

    function clock(ms) {
        var d = ms ? new Date(ms) : new Date();
        return d.toTimeString().slice(0, 5);
    }

    function line(kind, user, body, date) {
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
        li.appendChild(document.createTextNode(body));
        var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.appendChild(li);
        if (atBottom) log.scrollTop = log.scrollHeight;
    }

    function renderPeople() {
        people.textContent = "";
        present.forEach(function (user) {
            var li = document.createElement("li");
            li.textContent = user;
            if (user === me) li.className = "me";
            people.appendChild(li);
        });
    }

    function renderTyping() {
        var names = Object.keys(typingUsers).filter(function (u) {
            return u !== me && present.indexOf(u) >= 0;
        });
        typingLine.textContent = names.length === 0 ? "" :
            names.join(", ") + (names.length === 1 ? " is typing…" : " are typing…");
    }

    function status(s) { statusLine.textContent = s; }

    // While cut off, the list is only who was here: greyed out, with a
    // note, until the server sends the room's list again.
    function setOffline(on) {
        people.classList.toggle("offline", on);
        $("people-note").hidden = !on;
        statusLine.classList.toggle("offline", on);
    }

    function enable(on) {
        text.disabled = !on;
        sendButton.disabled = !on;
        if (on) text.focus();
    }

    // Phoenix mode: V2 frames [join_ref, ref, topic, event, payload] on
    // /socket/websocket, translated to the native shapes onFrame knows.
    var proto = "native", ref = 0, joinRef = null, heartbeat = null, phxPresence = {};

    function send(obj) {
        if (!ws || ws.readyState !== 1) return;
        if (proto === "phoenix") {
            var event = obj.type, payload = {};
            Object.keys(obj).forEach(function (k) { if (k !== "type") payload[k] = obj[k]; });
            ws.send(JSON.stringify([joinRef, String(++ref), "room:" + room, event, payload]));
        } else {
            ws.send(JSON.stringify(obj));
        }
    }

    function phxPresenceChanged() {
        onFrame({ type: "presence", message: { users: Object.keys(phxPresence).sort(),
            typing: Object.keys(typingUsers) } });
    }

    function onPhoenixFrame(f) {
        var event = f[3], payload = f[4] || {};
        if (event === "phx_reply" && f[1] === joinRef && payload.status !== "ok") {
            line("error", null, "join refused: " + show(payload.response && payload.response.reason));
        } else if (event === "presence_state") {
            phxPresence = {};
            Object.keys(payload).forEach(function (k) { phxPresence[k] = true; });
            phxPresenceChanged();
        } else if (event === "presence_diff") {
            Object.keys(payload.joins || {}).forEach(function (k) { phxPresence[k] = true; });
            Object.keys(payload.leaves || {}).forEach(function (k) {
                if (!(payload.joins || {})[k]) delete phxPresence[k];
            });
            phxPresenceChanged();
        } else if (event === "new_msg" || event === "typing" || event === "presence") {
            // "presence" is the chat app's own list (native and Phoenix users)
            onFrame({ type: event, message: payload, date: Date.now() });
        }
    }

    function setTyping(on) {
        clearTimeout(typingTimer);
        if (on) typingTimer = setTimeout(function () { setTyping(false); }, 3000);
        if (on === typingSent) return;
        typingSent = on;
        send({ type: "typing", typing: on });
    }

    function show(value) {
        return typeof value === "string" ? value : JSON.stringify(value);
    }

    function onFrame(s) {
        var m = s.message;
        switch (s.type) {
        case "new_msg":
            line(m.user === "bot" ? "bot" : "", m.user, m.body, s.date);
            delete typingUsers[m.user];
            renderTyping();
            break;
        case "typing":
            if (m.typing) typingUsers[m.user] = true; else delete typingUsers[m.user];
            renderTyping();
            break;
        case "presence":
            setOffline(false);
            present = list(m.users);
            typingUsers = {};
            list(m.typing).forEach(function (u) { typingUsers[u] = true; });
            renderPeople();
            renderTyping();
            break;
        case "join":
            if (!s.self) line("system", null, (s.alias || "someone") + " joined (" + s.users + " connected)", s.date);
            break;
        case "leave":
            line("system", null, (s.alias || "someone") + " left (" + s.users + " connected)", s.date);
            break;
        case "error":
            line("error", null, "error: " + show(m), s.date);
            break;
        case undefined:
            // a plain itty-sockets message from some other client
            line("", s.alias || s.uid, show(m), s.date);
            break;
        default:
            break;
        }
    }

    function connect() {
        var base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
        var url = proto === "phoenix" ? base + "/socket/websocket?vsn=2.0.0" :
            base + "/c/room:" + encodeURIComponent(room) +
            "?alias=" + encodeURIComponent(me) + "&announce=true";
        var sock = new WebSocket(url);
        ws = sock;
        status("connecting…");
        sock.onopen = function () {
            if (ws !== sock) return;
            attempt = 0;
            if (lost) line("conn", null, everOpen ? "reconnected" : "connected");
            lost = false;
            everOpen = true;
            online = true;
            if (proto === "phoenix") {
                joinRef = String(++ref);
                phxPresence = {};
                sock.send(JSON.stringify([joinRef, joinRef, "room:" + room, "phx_join", { user: me }]));
                clearInterval(heartbeat);
                heartbeat = setInterval(function () {
                    if (sock.readyState === 1)
                        sock.send(JSON.stringify([null, String(++ref), "phoenix", "heartbeat", {}]));
                }, 30000);
            }
            status(me + " in room:" + room);
            enable(true);
        };
        sock.onmessage = function (ev) {
            if (ws !== sock) return;
            var s;
            try { s = JSON.parse(ev.data); } catch (e) { return; }
            if (proto === "phoenix" && Array.isArray(s)) onPhoenixFrame(s);
            else if (s && typeof s === "object") onFrame(s);
        };
        sock.onclose = function () {
            if (ws !== sock) return;
            ws = null;
            clearInterval(heartbeat);
            enable(false);
            typingSent = false;
            // once per outage, however many retries it takes
            if (!lost) {
                line("conn", null, online ? "disconnected, reconnecting…" :
                    "cannot reach the server, retrying…");
                lost = true;
            }
            online = false;
            typingUsers = {};
            renderTyping();
            setOffline(true);
            if (!wanted) { status("not connected"); return; }
            // exponential backoff with jitter, at most ~10 s
            var delay = Math.min(10000, 250 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
            status("disconnected, retrying in " + Math.round(delay / 1000) + " s");
            setTimeout(function () { if (wanted && !ws) connect(); }, delay);
        };
    }

    $("join").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var name = $("name").value.trim(), r = $("room").value.trim();
        if (!name || !r) return;
        if (!/^[A-Za-z0-9_.:@\/-]+$/.test(r)) {
            line("error", null, "room names use letters, digits and _ . : @ / - only");
            return;
        }
        wanted = false;
        if (ws) { var old = ws; ws = null; old.close(); }
        me = name;
        room = r;
        proto = $("proto").value;
        present = [];
        typingUsers = {};
        online = lost = everOpen = false;
        setOffline(false);
        renderPeople();
        renderTyping();
        log.textContent = "";
        line("system", null, "joining room:" + room + " as " + me);
        history.replaceState(null, "", "#" + encodeURIComponent(room) + "/" + encodeURIComponent(me));
        wanted = true;
        attempt = 0;
        connect();
    });

    $("say").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var body = text.value.trim();
        if (!body) return;
        send({ type: "new_msg", body: body });
        text.value = "";
        setTyping(false);
    });

    text.addEventListener("input", function () { setTyping(text.value.length > 0); });

    // #room/name in the address joins straight away (handy for two tabs)
    var hash = location.hash.slice(1).split("/");
    if (hash[0]) $("room").value = decodeURIComponent(hash[0]);
    if (hash[1]) {
        $("name").value = decodeURIComponent(hash[1]);
        $("join").requestSubmit ? $("join").requestSubmit() :
            $("join").dispatchEvent(new Event("submit", { cancelable: true }));
    } else {
        $("name").focus();
    }
})();

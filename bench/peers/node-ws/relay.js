'use strict';
// Peer relay for bench/run.sh: the native protocol's relay semantics on npm
// `ws`, written the way a Node user would: ws://HOST:PORT/c/<channel>, a text
// frame holding JSON goes to every OTHER member as
// {"uid":U,"date":D,"message":M}, join/leave events go to the channel.
// The envelope is encoded once per message and the same Buffer is handed to
// every receiver, so this is the fair, efficient baseline.
// A receiver whose unsent backlog passes SLOW_LIMIT bytes is cut off, as the
// switchboard design asks for slow consumers (bounded memory, others unhurt).
const http = require('http');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', 8080));
const host = opt('--host', '127.0.0.1');
const SLOW_LIMIT = Number(opt('--slow-limit', 4 * 1024 * 1024));
// --no-events: no join/leave frames.  Joins are O(members) each, so 10k
// subscribers joining one channel cost 50M frames before the bench starts;
// run.sh asks every native server for the same.
const EVENTS = !args.includes('--no-events');

const channels = new Map(); // name -> Set of sockets
let nextUid = 0;

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });

server.on('upgrade', (req, socket, head) => {
  const m = /^\/c\/([^?]+)/.exec(req.url);
  if (!m) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, decodeURIComponent(m[1])));
});

function broadcast(set, buf, except) {
  for (const peer of set) {
    if (peer === except || peer.readyState !== 1) continue;
    if (peer.bufferedAmount > SLOW_LIMIT) {
      peer.terminate();
      continue;
    }
    peer.send(buf, { binary: false });
  }
}

function event(type, set, uid) {
  return Buffer.from(JSON.stringify({ type, users: set.size, uid, date: Date.now() }));
}

function join(ws, name) {
  let set = channels.get(name);
  if (!set) channels.set(name, (set = new Set()));
  set.add(ws);
  const uid = 'u' + (++nextUid).toString(36);
  if (EVENTS) broadcast(set, event('join', set, uid), null);
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    try {
      JSON.parse(text);
    } catch (e) {
      return; // not JSON: dropped, as the native protocol does
    }
    const out = Buffer.from('{"uid":"' + uid + '","date":' + Date.now() + ',"message":' + text + '}');
    broadcast(set, out, ws);
  });
  ws.on('close', () => {
    set.delete(ws);
    if (set.size === 0) channels.delete(name);
    else if (EVENTS) broadcast(set, event('leave', set, uid), null);
  });
  ws.on('error', () => {});
}

server.listen(port, host, () => console.log(`node-ws relay on ws://${host}:${port}/c/<channel>`));

/* The server's life: made on the shared loop with its lws vhost, its
 * listener (listener.c), its protocols' state, and the own WebSocket
 * transport (tcp*.c); closed, then freed with its last reference.  What
 * lws calls it back with is server_lws.c. */
#include "server.h"
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/defaults.h"
#include "base/str.h"
#include "flush.h"
#include "http.h"
#include "listener.h"
#include "tcp.h"

/* Bytes lws reads per WebSocket receive callback (see sb_server_new). */
#define SB_RX_CHUNK 512

/* lws writes the WebSocket header into the frame's headroom. */
typedef char sb_frame_pre_fits[(SB_FRAME_PRE >= LWS_PRE) ? 1 : -1];


const sb_server_hooks *sb_server_hooks_of(const sb_server *s)
{
    return &s->hooks;
}

const sb_server_config *sb_server_config_of(const sb_server *s)
{
    return &s->cfg;
}

sb_server_stats *sb_server_stats_of(sb_server *s)
{
    return &s->shared.stats;
}

sb_flusher *sb_server_flusher(sb_server *s)
{
    return &s->flush;
}

int sb_server_port(const sb_server *s)
{
    return s->port;
}

sb_hub *sb_server_hub(const sb_server *s)
{
    return s->hub;
}

sb_server_shared *sb_server_shared_of(sb_server *s)
{
    return &s->shared;
}

sb_loop *sb_server_loop(const sb_server *s)
{
    return s->loop;
}

struct lws_context *sb_server_lws(const sb_server *s)
{
    return s->ctx;
}

char *sb_server_strdup(const char *s)
{
    return s ? sb_memdup(s, strlen(s)) : NULL;
}

/* The vhost's reference goes, once: when lws reports the vhost gone, or
 * when the loop ends (lws 4.1 never reports it on a foreign loop, so
 * every server that ever listened was otherwise kept to the process's
 * end, with its hub and channels). */
void sb_server_vhost_gone(sb_server *s)
{
    if (!s->vhost_ref)
        return;
    s->vhost_ref = 0;
    sb_loop_exit_cancel(s->loop, &s->vhost_exit);
    sb_server_unref(s);
}

/* The loop is gone: nothing calls back into s any more.  Only a server
 * that stopped listening (its timers and sockets closed: no handle points
 * into it) lets go; one still open when its loop goes stays allocated. */
static void sb_server_vhost_exit(sb_turn_hook *h)
{
    sb_server *s = (sb_server *)(void *)((char *)h - offsetof(sb_server, vhost_exit));

    if (s->closing && !s->ctx && !s->conns)
        sb_server_vhost_gone(s);
}

void sb_server_unref(sb_server *s)
{
    int i;

    if (--s->refs > 0)
        return;
    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i]->server_free)
            s->protos[i]->server_free(s->pstate[i]);
    sb_flusher_free(&s->flush);
    sb_loop_turn_hook_cancel(s->loop, &s->reaper);
    sb_loop_turn_hook_cancel(s->loop, &s->io_reset);
    if (s->own_ws && !s->loop->closing)
        sb_loop_teardown_cancel(s->loop, &s->teardown);
    sb_trimmer_free(&s->trim);
    sb_hub_free(s->hub);   /* the reference taken in sb_server_new */
    sb_peers_free(&s->peers);
    free(s->tcp_rx);
    sb_pmd_free(&s->pmd);
    free(s->host);
    free(s->static_dir);
    free(s->cors);
    free(s);
}

void *sb_server_proto_state(const sb_server *s, const sb_proto_ops *ops)
{
    int i;

    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i] == ops)
            return s->pstate[i];
    return NULL;
}

const sb_proto_ops *sb_server_protocol(const sb_server *s, int i)
{
    return i >= 0 && i < s->nprotos ? s->protos[i] : NULL;
}

sb_wsconn *sb_server_conns(const sb_server *s)
{
    return s->conns;
}

/* Stops listening: the server's whole lws context goes, which closes the
 * listening socket now (lws finishes on the loop's next turns). */
void sb_server_drop_vhost(sb_server *s)
{
    struct lws_context *ctx = s->ctx;
    int i;

    sb_listener_close(s->lsn);
    s->lsn = NULL;
    if (!ctx)
        return;
    if (s->vh)
        s->loop->users--;
    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i]->server_stop)
            s->protos[i]->server_stop(s, s->pstate[i]);
    sb_timer_free(s->close_cut);
    s->close_cut = NULL;
    sb_keepalive_stop(&s->ka);
    sb_tcp_drop_heads(s);
    sb_expiries_stop(&s->hs_dl);
    sb_expiries_stop(&s->tcp_dl);
    s->ctx = NULL;
    s->vh = NULL;
    /* lws 4.1 never completes this on a foreign loop (the context,
     * ~400 KB, stays allocated); calling it again once the handles have
     * closed frees memory libuv still points at, so servers are best made
     * once per process */
    sb_loop_destroy_lws(s->loop, ctx);
}

/* Which protocol a WebSocket path speaks, in the table's order; sets
 * *channel for protocols that name their one channel in the path. */
const sb_proto_ops *sb_server_route(sb_server *s, const char *path,
                                    const char **channel)
{
    int i;

    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i]->ws_route &&
            s->protos[i]->ws_route(s, s->pstate[i], path, channel))
            return s->protos[i];
    return NULL;
}

int sb_wsconn_opened(sb_wsconn *c)
{
    int rc = c->ops->open(c);

    if (rc < 0) {
        const char *why = sb_hub_strerror(rc);
        if (c->tcp)
            sb_tcp_fail(c->tcp, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
        else
            lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                             (unsigned char *)why, strlen(why));
        return -1;
    }
    sb_keepalive_add(&c->srv->ka, c);
    if (c->srv->hooks.open)
        c->srv->hooks.open(c->srv->hooks.ud, c);
    return 0;
}

/* The transport is gone: leave the hub (events fire), tell the app once. */
void sb_wsconn_transport_gone(sb_wsconn *c, int code)
{
    if (c->closed)
        return;
    c->closed = 1;
    sb_keepalive_remove(&c->srv->ka, c);
    c->ops->closed(c);
    sb_hub_disconnect(c->srv->hub, &c->hc);
    if (c->srv->hooks.close)
        c->srv->hooks.close(c->srv->hooks.ud, c, code);
    c->wsi = NULL;
}

void sb_wsconn_end(sb_wsconn *c, int code)
{
    sb_wsconn_transport_gone(c, code);
    sb_wsconn_free(c);
}

/* Takes the config's protocol table and lets each protocol make its
 * per-server state.  0, or -1 with err filled. */
static int sb_server_start_protocols(sb_server *s, char *err, size_t errlen)
{
    const sb_proto_ops *const *p = s->cfg.protocols;

    for (; p && *p; p++) {
        if (s->nprotos == SB_MAX_PROTOCOLS) {
            snprintf(err, errlen, "more than %d protocols", SB_MAX_PROTOCOLS);
            return -1;
        }
        s->protos[s->nprotos] = *p;
        /* counted first: a start that fails half-way is freed too */
        if ((*p)->server_start && (*p)->server_start(s, &s->pstate[s->nprotos++])) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!(*p)->server_start)
            s->nprotos++;
    }
    if (!s->nprotos) {
        snprintf(err, errlen, "no protocols");
        return -1;
    }
    return 0;
}

/* One lws protocol entry; every entry runs the same callback. */
static void sb_server_lws_protocol(struct lws_protocols *p, const char *name)
{
    p->name = name;
    p->callback = sb_server_lws_cb;
    /* lws keeps an rx buffer of this size per WebSocket (default 4 KiB,
     * most of an idle connection's memory); longer frames arrive in
     * pieces, which sb_wsconn_receive joins anyway */
    p->rx_buffer_size = SB_RX_CHUNK;
    /* without this, lws caps each send at rx_buffer_size and buffers the
     * rest of a packed write (a copy, then a POLLOUT round trip) */
    p->tx_packet_size = SB_BATCH_MAX + 64;
}

/* lws's protocol table: ours first (it gets HTTP, and the per-request
 * slot), then every subprotocol name the protocols' clients offer. */
static void sb_server_lws_protocols(sb_server *s)
{
    int i, n = 1;

    sb_server_lws_protocol(&s->protocols[0], "switchboard");
    s->protocols[0].per_session_data_size = sizeof(sb_http_slot);
    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i]->ws_subprotocol)
            sb_server_lws_protocol(&s->protocols[n++], s->protos[i]->ws_subprotocol);
}

/* The listener's accepted sockets, on the own transport. */
static void sb_server_take(void *arg, int fd)
{
    sb_tcp_accept(arg, fd);
}

/* The vhost, and the sockets it serves (listener.h: lws 4.1's own
 * listener does not bind the address it is given).  0, or -1 with err. */
static int sb_server_listen(sb_server *s, const sb_server_config *cfg,
                            char *err, size_t errlen)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = s->protocols;
    info.vhost_name = "switchboard";
    info.user = s;
    info.options = 0;   /* VALIDATE_UTF8 is a context option (loop.c) */
    sb_limits_vhost(&s->cfg, &info, &s->retry);
    sb_keepalive_start(&s->ka, &s->loop->uv, s->cfg.ping_interval, s->cfg.idle_timeout);
    /* TLS: lws loads the pair when the vhost is made, so a bad path or a
     * key that does not match fails sb_server_new, not the first client */
    if (cfg->tls_cert && cfg->tls_key) {
        /* lws 4.1 turns TLS off for a vhost whose own options lack this,
         * whatever the context says */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    s->vh = lws_create_vhost(s->ctx, &info);
    if (!s->vh) {
        snprintf(err, errlen, "cannot start the server on %s:%d",
                 cfg->host ? cfg->host : "*", cfg->port);
        return -1;
    }
    s->refs++;
    s->vhost_ref = 1;
    s->vhost_exit.fn = sb_server_vhost_exit;
    sb_loop_at_exit(s->loop, &s->vhost_exit);
    s->loop->users++;
    s->lsn = sb_listener_new(&s->loop->uv, s->vh, cfg->host, cfg->port, cfg->reuse_port,
                             err, errlen);
    if (!s->lsn)
        return -1;
    s->port = sb_listener_port(s->lsn);
    /* TLS stays lws's: the own transport speaks plain TCP */
    if (!(cfg->tls_cert && cfg->tls_key) && !getenv("SB_LWS_WEBSOCKETS")) {
        if (!(s->tcp_rx = malloc(SB_TCP_RX))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->own_ws = 1;
        if (sb_expiries_init(&s->hs_dl, &s->loop->uv) ||
            sb_expiries_init(&s->tcp_dl, &s->loop->uv)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sb_listener_take(s->lsn, sb_server_take, s);
        s->teardown.fn = sb_tcp_teardown;
        sb_loop_at_teardown(s->loop, &s->teardown);
    }
    return 0;
}

const char *sb_server_address(const sb_server *s, int i)
{
    return sb_listener_address(s->lsn, i);
}

/* The server's own copies of what the config points at.  0 or -1. */
static int sb_server_copy_config(sb_server *s, const sb_server_config *cfg)
{
    s->cfg = *cfg;
    sb_limits_defaults(&s->cfg);
    if (!s->cfg.max_message)
        s->cfg.max_message = SB_DEFAULT_max_message;
    if (!s->cfg.max_queue)
        s->cfg.max_queue = SB_DEFAULT_max_queue;
    s->shared.max_queue = s->cfg.max_queue;
    s->host = sb_server_strdup(cfg->host);
    s->static_dir = sb_server_strdup(cfg->static_dir);
    s->cors = sb_server_strdup(cfg->cors);
    s->cfg.host = s->host;
    s->cfg.static_dir = s->static_dir;
    s->cfg.cors = s->cors;
    return (cfg->static_dir && !s->static_dir) || (cfg->host && !s->host) ||
           (cfg->cors && !s->cors) ? -1 : 0;
}

/* The trimmer's collect: the app's hook, while the app still listens. */
static void sb_server_collect(void *arg)
{
    sb_server *s = arg;

    if (s->hooks.collect)
        s->hooks.collect(s->hooks.ud);
}

sb_server *sb_server_new(sb_loop *loop, sb_hub *hub, const sb_server_config *cfg,
                         const sb_server_hooks *hooks, char *err, size_t errlen)
{
    sb_server *s = calloc(1, sizeof *s);

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->hub = hub;
    s->refs = 1;
    s->hooks = *hooks;
    sb_flusher_init(&s->flush, loop);
    sb_trimmer_init(&s->trim, loop);
    s->trim.collect = sb_server_collect;
    s->trim.arg = s;
    s->shared.flush = &s->flush;
    /* connections still use the hub while lws closes them, which can be
     * after the hub's owner let go (lua_close collects in any order) */
    sb_hub_retain(hub);
    sb_peers_init(&s->peers, (unsigned long long)sb_now_ms());
    /* nanoseconds and the address too: servers made in the same
     * millisecond (nodes of a cluster in one process) must not hand out
     * the same uids, now that direct messages cross nodes */
    s->uid_salt = ((uint64_t)sb_now_ms() ^ ((uint64_t)getpid() << 20) ^
                   uv_hrtime() ^ ((uint64_t)(uintptr_t)s >> 4)) % SB_UID_SPACE;
    if (sb_server_copy_config(s, cfg)) {
        snprintf(err, errlen, "out of memory");
        sb_server_unref(s);
        return NULL;
    }
    if (sb_server_start_protocols(s, err, errlen)) {
        sb_server_unref(s);
        return NULL;
    }
    /* the protocols took copies of what they keep */
    s->cfg.options = NULL;
    s->ctx = sb_loop_new_lws(loop, 1, s->cfg.handshake_timeout, s->cfg.max_header_bytes);
    if (!s->ctx) {
        snprintf(err, errlen, "cannot start libwebsockets");
        sb_server_unref(s);
        return NULL;
    }
    sb_server_lws_protocols(s);
    if (sb_server_listen(s, cfg, err, errlen)) {
        sb_server_free(s);
        return NULL;
    }
    return s;
}

/* Five seconds after sb_server_close: cuts every connection still open (a
 * peer that does not read its close), in one walk.  One timer for the
 * server rather than an lws timeout per connection: lws keeps timeouts in
 * one sorted list and each insert walks it, so n of them cost O(n^2).
 * The cut shuts the socket down: lws sees the hang-up on its next poll
 * and closes the connection as a dead peer (writes fail at once, so no
 * flush of what is queued holds it up again), with no timer of its own;
 * lws's synchronous kill would first try that flush.  Nothing is freed
 * under the walk. */
static void sb_server_close_expired(void *arg)
{
    sb_server *s = arg;
    sb_wsconn *c;

    for (c = s->conns; c; c = c->next) {
        if (c->tcp)
            sb_tcp_kill(c->tcp);
        else if (c->wsi && !c->closed)
            shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
    }
}

/* lws 4.1's vhost destroy only stops listening: connections stay up until
 * they end by themselves.  So close each one ourselves with 1001 (going
 * away: clients reconnect) after what is queued, make sure a peer that
 * does not read cannot hold that up for long (sb_server_close_expired),
 * and let the vhost go with the last connection (sb_wsconn_free). */
void sb_server_close(sb_server *s)
{
    sb_wsconn *c;

    if (!s || s->closing)
        return;
    s->closing = 1;
    /* no new connections from now on, and the port is free at once
     * (not once the last connection has answered its close) */
    sb_listener_close(s->lsn);
    s->lsn = NULL;
    if (s->own_ws)
        sb_tcp_drop_heads(s);
    for (c = s->conns; c; c = c->next)
        if ((c->wsi || c->tcp || c->ops->detached) && !c->closed)
            sb_wsconn_close(c, 1001, "server closing");
    if (!s->conns)
        sb_server_drop_vhost(s);
    else if (s->ctx && (s->close_cut = sb_timer_new(&s->loop->uv, sb_server_close_expired, s)))
        sb_timer_start(s->close_cut, 5000);
}

/* The owner lets go: no more hooks; memory goes once lws has finished
 * with the vhost and every connection is released. */
void sb_server_free(sb_server *s)
{
    if (!s)
        return;
    memset(&s->hooks, 0, sizeof s->hooks);
    sb_server_close(s);
    sb_server_unref(s);
}

/* The Redis link: see redis.h.  hiredis does the protocol and its libuv
 * adapter the polling; this file owns the two contexts' lifecycle.
 *
 * Lifecycle: a context pointer is cleared the moment the context stops
 * being ours (hiredis frees it after the connect/disconnect callback, or we
 * free it on purpose), so a disconnect callback for a context we no longer
 * point at is one we tore down ourselves and needs no action.  The struct
 * is freed only when closing and both contexts and the retry timer are
 * gone, because hiredis and libuv call back into it until then.
 *
 * The libuv glue is our own rather than hiredis' adapters/libuv.h: that
 * adapter ignores a poll error, and libuv reports a refused connection as
 * one (and stops the handle), so a reconnect to a Redis that is still down
 * would wait forever. */
#include "redis.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_REDIS_BACKOFF_MIN_MS 100
#define SB_REDIS_BACKOFF_MAX_MS 5000

struct sb_redis {
    uv_loop_t *loop;
    uv_timer_t retry;
    redisAsyncContext *cmd, *sub;
    int cmd_ok, sub_ok;     /* connect callback reported success */
    int up;
    int closing;
    int timer_open;
    int attempts;           /* failed attempts since the last success */
    int port, db;
    uint32_t rng;           /* jitter, so nodes do not retry in lockstep */
    sb_redis_hooks hooks;
    char host[256];
};

int sb_redis_parse_url(const char *url, char *host, size_t hostlen, int *port,
                       int *db, char *err, size_t errlen)
{
    const char *p = url, *end;
    size_t n;
    char *stop;
    long v;

    *port = 6379;
    *db = 0;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://")) {
        snprintf(err, errlen, "redis URL %s: only redis:// is supported", url);
        return -1;
    }
    if (strchr(p, '@')) {
        snprintf(err, errlen, "redis URL %s: passwords are not supported yet", url);
        return -1;
    }
    end = p + strcspn(p, ":/");
    n = (size_t)(end - p);
    if (n == 0 || n >= hostlen) {
        snprintf(err, errlen, "redis URL %s: want redis://HOST[:PORT][/DB]", url);
        return -1;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    if (*end == ':') {
        v = strtol(end + 1, &stop, 10);
        if (stop == end + 1 || v <= 0 || v > 65535 || (*stop && *stop != '/')) {
            snprintf(err, errlen, "redis URL %s: bad port", url);
            return -1;
        }
        *port = (int)v;
        end = stop;
    }
    if (*end == '/' && end[1]) {
        v = strtol(end + 1, &stop, 10);
        if (stop == end + 1 || *stop || v < 0 || v > 1000000) {
            snprintf(err, errlen, "redis URL %s: bad database number", url);
            return -1;
        }
        *db = (int)v;
    }
    return 0;
}

/* One context's socket on the loop. */
typedef struct sb_redis_watch {
    redisAsyncContext *ac;  /* NULL once hiredis let go (cleanup) */
    uv_poll_t poll;
    int events;
} sb_redis_watch;

static void watch_cb(uv_poll_t *h, int status, int events)
{
    sb_redis_watch *w = h->data;

    if (!w->ac)
        return;
    if (status < 0) {
        /* POLLERR: hiredis reads the socket error itself and calls the
         * connect or disconnect callback */
        if (w->ac->c.flags & REDIS_CONNECTED)
            redisAsyncHandleRead(w->ac);
        else
            redisAsyncHandleWrite(w->ac);
        return;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(w->ac);
    if (w->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(w->ac);
}

static void watch_set(sb_redis_watch *w, int add, int flag)
{
    w->events = add ? (w->events | flag) : (w->events & ~flag);
    if (w->events)
        uv_poll_start(&w->poll, w->events, watch_cb);
    else
        uv_poll_stop(&w->poll);
}

static void watch_add_read(void *p) { watch_set(p, 1, UV_READABLE); }
static void watch_del_read(void *p) { watch_set(p, 0, UV_READABLE); }
static void watch_add_write(void *p) { watch_set(p, 1, UV_WRITABLE); }
static void watch_del_write(void *p) { watch_set(p, 0, UV_WRITABLE); }

static void watch_closed(uv_handle_t *h)
{
    free(h->data);
}

static void watch_cleanup(void *p)
{
    sb_redis_watch *w = p;

    w->ac = NULL;
    uv_close((uv_handle_t *)&w->poll, watch_closed);
}

/* Returns 0, or -1 with nothing attached. */
static int watch_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    sb_redis_watch *w = calloc(1, sizeof *w);

    if (!w)
        return -1;
    if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
        free(w);
        return -1;
    }
    w->ac = ac;
    w->poll.data = w;
    ac->ev.data = w;
    ac->ev.addRead = watch_add_read;
    ac->ev.delRead = watch_del_read;
    ac->ev.addWrite = watch_add_write;
    ac->ev.delWrite = watch_del_write;
    ac->ev.cleanup = watch_cleanup;
    return 0;
}

static void maybe_free(sb_redis *r)
{
    if (r->closing && !r->cmd && !r->sub && !r->timer_open)
        free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    sb_redis *r = h->data;

    r->timer_open = 0;
    maybe_free(r);
}

static void start(sb_redis *r);

static void on_retry(uv_timer_t *t)
{
    start(t->data);
}

/* Backoff doubles from 100 ms up to 5 s, with +-25 % jitter. */
static uint64_t backoff_ms(sb_redis *r)
{
    uint64_t ms = SB_REDIS_BACKOFF_MIN_MS;
    int i;

    for (i = 0; i < r->attempts && ms < SB_REDIS_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > SB_REDIS_BACKOFF_MAX_MS)
        ms = SB_REDIS_BACKOFF_MAX_MS;
    r->rng = r->rng * 1103515245u + 12345u;
    return ms * 3 / 4 + (r->rng >> 8) % (ms / 2 + 1);
}

/* Frees a context that is still ours, so its callbacks see it as foreign. */
static void drop(sb_redis *r, redisAsyncContext **slot)
{
    redisAsyncContext *ac = *slot;

    *slot = NULL;
    if (ac)
        redisAsyncFree(ac);
    (void)r;
}

/* One connection failed or dropped: tear the other down too (the link is
 * only useful whole), tell the owner, and schedule the next attempt. */
static void lost(sb_redis *r, const char *why)
{
    char msg[256];

    if (r->closing)
        return;
    snprintf(msg, sizeof msg, "%s", why ? why : "connection lost");
    r->up = 0;
    r->cmd_ok = r->sub_ok = 0;
    drop(r, &r->cmd);
    drop(r, &r->sub);
    if (!uv_is_active((uv_handle_t *)&r->retry)) {
        uv_timer_start(&r->retry, on_retry, backoff_ms(r), 0);
        r->attempts++;
        if (r->hooks.down)
            r->hooks.down(r, msg, r->hooks.ud);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sb_redis *r = ac->data;

    if (ac != r->cmd && ac != r->sub)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        if (ac == r->cmd)
            r->cmd = NULL;
        else
            r->sub = NULL;
        lost(r, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    if (ac == r->cmd)
        r->cmd_ok = 1;
    else
        r->sub_ok = 1;
    if (r->cmd_ok && r->sub_ok && !r->closing) {
        r->up = 1;
        r->attempts = 0;
        if (r->hooks.up)
            r->hooks.up(r, r->hooks.ud);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sb_redis *r = ac->data;
    int ours = ac == r->cmd || ac == r->sub;

    if (ac == r->cmd)
        r->cmd = NULL;
    else if (ac == r->sub)
        r->sub = NULL;
    if (r->closing) {
        maybe_free(r);
        return;
    }
    if (ours)
        lost(r, status == REDIS_OK ? "server closed the connection"
                                   : (ac->errstr[0] ? ac->errstr : "I/O error"));
}

/* A new context on the loop, or NULL (err says why). */
static redisAsyncContext *open_ctx(sb_redis *r, char *err, size_t errlen)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);

    if (!ac) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(err, errlen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = r;
    if (watch_attach(ac, r->loop) != 0) {
        snprintf(err, errlen, "cannot watch the Redis socket");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void start(sb_redis *r)
{
    char err[128], db[16];
    const char *argv[2];
    size_t lens[2];

    if (r->closing)
        return;
    r->cmd = open_ctx(r, err, sizeof err);
    r->sub = r->cmd ? open_ctx(r, err, sizeof err) : NULL;
    if (!r->cmd || !r->sub) {
        lost(r, err);
        return;
    }
    if (r->db) {
        /* queued ahead of everything, so every command runs in that db */
        snprintf(db, sizeof db, "%d", r->db);
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = db;
        lens[1] = strlen(db);
        redisAsyncCommandArgv(r->cmd, NULL, NULL, 2, argv, lens);
    }
}

sb_redis *sb_redis_new(uv_loop_t *loop, const char *host, int port, int db,
                       const sb_redis_hooks *hooks)
{
    sb_redis *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->loop = loop;
    snprintf(r->host, sizeof r->host, "%s", host);
    r->port = port;
    r->db = db;
    r->hooks = *hooks;
    r->rng = (uint32_t)(uintptr_t)r ^ (uint32_t)uv_hrtime();
    uv_timer_init(loop, &r->retry);
    r->retry.data = r;
    r->timer_open = 1;
    start(r);
    return r;
}

void sb_redis_free(sb_redis *r)
{
    redisAsyncContext *ac;

    if (!r)
        return;
    r->closing = 1;
    r->up = 0;
    uv_timer_stop(&r->retry);
    uv_close((uv_handle_t *)&r->retry, on_timer_closed);
    /* the subscriber has nothing to flush */
    drop(r, &r->sub);
    if ((ac = r->cmd) != NULL) {
        if (r->cmd_ok) {
            /* flushes queued commands (a node's goodbye), then the
             * disconnect callback clears r->cmd */
            redisAsyncDisconnect(ac);
        } else {
            drop(r, &r->cmd);
        }
    }
    maybe_free(r);
}

int sb_redis_is_up(const sb_redis *r)
{
    return r && r->up;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    sb_redis *r = ac->data;

    if (r->closing || !privdata || !r->hooks.reply)
        return;
    r->hooks.reply(r, privdata, reply, r->hooks.ud);
}

int sb_redis_command(sb_redis *r, void *req, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (!r->up || !r->cmd)
        return -1;
    return redisAsyncCommandArgv(r->cmd, on_reply, req, argc, argv,
                                 argvlen) == REDIS_OK ? 0 : -1;
}

/* Every reply on the subscriber connection: messages, and confirmations
 * of (un)subscribe.  NULL when the connection goes away. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    sb_redis *r = ac->data;
    redisReply *rep = reply, *kind, *ch;

    (void)privdata;
    if (r->closing || !rep || rep->type != REDIS_REPLY_ARRAY ||
        rep->elements < 3)
        return;
    kind = rep->element[0];
    ch = rep->element[1];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0 &&
        rep->element[2]->type == REDIS_REPLY_STRING) {
        if (r->hooks.message)
            r->hooks.message(r, ch->str, ch->len, rep->element[2]->str,
                             rep->element[2]->len, r->hooks.ud);
    } else if (strcmp(kind->str, "subscribe") == 0) {
        if (r->hooks.subscribed)
            r->hooks.subscribed(r, ch->str, ch->len, r->hooks.ud);
    } else if (strcmp(kind->str, "unsubscribe") == 0) {
        if (r->hooks.unsubscribed)
            r->hooks.unsubscribed(r, ch->str, ch->len, r->hooks.ud);
    }
}

static int sub_command(sb_redis *r, const char *verb, const char *ch, size_t n)
{
    const char *argv[2];
    size_t lens[2];

    if (!r->up || !r->sub)
        return -1;
    argv[0] = verb;
    lens[0] = strlen(verb);
    argv[1] = ch;
    lens[1] = n;
    return redisAsyncCommandArgv(r->sub, on_sub_reply, NULL, 2, argv, lens) ==
                   REDIS_OK
               ? 0
               : -1;
}

int sb_redis_subscribe(sb_redis *r, const char *ch, size_t n)
{
    return sub_command(r, "SUBSCRIBE", ch, n);
}

int sb_redis_unsubscribe(sb_redis *r, const char *ch, size_t n)
{
    return sub_command(r, "UNSUBSCRIBE", ch, n);
}

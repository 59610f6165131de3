/* A Redis link on the libuv loop: two hiredis async connections (one for
 * commands, one in subscribe mode, as Redis requires), reconnected with
 * exponential backoff and jitter.  It knows nothing of hubs: cluster.c
 * decides what to send and what a message means.
 *
 * The link is "up" once both connections are established.  Commands sent
 * while it is down are refused (the caller counts them), never queued: a
 * queue would grow without bound during an outage. */
#ifndef SB_REDIS_H
#define SB_REDIS_H

#include <stddef.h>
#include <uv.h>

typedef struct sb_redis sb_redis;
struct redisReply;

typedef struct sb_redis_hooks {
    /* Both connections are ready (first time or after an outage):
     * subscribe and re-announce state here. */
    void (*up)(sb_redis *r, void *ud);
    /* The link was lost (or a connection attempt failed); `why` says why.
     * Reconnection is already scheduled. */
    void (*down)(sb_redis *r, const char *why, void *ud);
    /* A message on a subscribed channel. */
    void (*message)(sb_redis *r, const char *ch, size_t chlen,
                    const char *data, size_t n, void *ud);
    /* Reply to a command sent with a non-NULL req (the caller's request
     * object, handed back as is); reply is NULL when the connection died
     * before the reply came.  Not called once sb_redis_free ran: requests
     * still in flight then are the caller's to free. */
    void (*reply)(sb_redis *r, void *req, struct redisReply *reply, void *ud);
    /* Redis confirmed an UNSUBSCRIBE.  hiredis keeps one callback per
     * channel and drops it on this reply, so a channel must not be
     * subscribed again before it (the caller defers until then). */
    void (*unsubscribed)(sb_redis *r, const char *ch, size_t chlen, void *ud);
    /* Redis confirmed a SUBSCRIBE: from now on nothing published on the
     * channel is missed, so state read after this is complete. */
    void (*subscribed)(sb_redis *r, const char *ch, size_t chlen, void *ud);
    void *ud;
} sb_redis_hooks;

/* Parses redis://HOST[:PORT][/DB] (also without the scheme).  Returns 0 or
 * -1 with a message in err. */
int sb_redis_parse_url(const char *url, char *host, size_t hostlen, int *port,
                       int *db, char *err, size_t errlen);

/* Starts connecting; NULL when memory ran out. */
sb_redis *sb_redis_new(uv_loop_t *loop, const char *host, int port, int db,
                       const sb_redis_hooks *hooks);
/* Flushes what was sent, disconnects and frees once the loop has let go
 * of the handles; no hook is called after this. */
void sb_redis_free(sb_redis *r);
int sb_redis_is_up(const sb_redis *r);

/* Sends a command on the command connection.  Returns 0, or -1 when the
 * link is down or the command could not be queued. */
int sb_redis_command(sb_redis *r, void *req, int argc, const char **argv,
                     const size_t *argvlen);
/* (Un)subscribes the subscriber connection; -1 when down.  After an
 * outage the caller subscribes again from its up hook. */
int sb_redis_subscribe(sb_redis *r, const char *ch, size_t n);
int sb_redis_unsubscribe(sb_redis *r, const char *ch, size_t n);

#endif

/* A server's connections from birth to release: the caps checked before
 * anything is spent on a request, the uid, the protocol's prepare, the
 * app's connect hook, the counts and the per-address table, and the free
 * that undoes all of it.  The server (server.c) calls in here from its
 * lws callback; a protocol whose connections are HTTP streams calls
 * sb_server_accept itself. */
#include "server.h"
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lines.h"
#include "flush.h"
#include "peers.h"

/* Short, unique, unguessable-looking uids without a lookup: a bijection of
 * a counter over 36^6 values. */
static void sb_server_make_uid(sb_server *s, char *out)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t x = (s->uid_seq++ * SB_UID_MULT + s->uid_salt) % SB_UID_SPACE;
    int i;

    for (i = 5; i >= 0; i--) {
        out[i] = digits[x % 36];
        x /= 36;
    }
    out[6] = '\0';
}

static void sb_server_link(sb_server *s, sb_wsconn *c)
{
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
}

static void sb_server_unlink(sb_server *s, sb_wsconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void sb_wsconn_free(sb_wsconn *c)
{
    sb_server *s = c->srv;

    if (c->counted) {
        s->shared.stats.open[c->proto_index]--;
        s->nconns--;
        sb_peers_release(s, c);
        sb_trimmer_count(&s->trim, s->nconns);
    }
    sb_server_unlink(s, c);
    sb_flush_unmark(&s->flush, c);
    sb_keepalive_remove(&s->ka, c);
    if (s->closing && !s->conns)
        sb_server_drop_vhost(s);
    if (c->ops && c->ops->release)
        c->ops->release(c);
    sb_fqueue_free(&c->q);
    sb_buf_free(&c->rx);
    free(c->channel);
    free(c->member);
    free(c->alias);
    free(c->ip);
    if (c->close_owned)
        free((char *)c->close_reason);
    free(c);
    sb_server_unref(s);
}

static int sb_server_index_of(const sb_server *s, const sb_proto_ops *ops)
{
    int i;

    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i] == ops)
            return i;
    return 0;
}

/* A new connection of ops for a request, attached to the hub but not yet
 * counted: runs the protocol's prepare.  NULL with *status (and reason)
 * set when the request is refused, or 0 when memory ran out. */
static sb_wsconn *sb_server_make_conn(sb_server *s, const sb_reqsrc *r,
                                      const sb_proto_ops *ops, const char *chan,
                                      int *status, char *reason, size_t reason_len)
{
    /* on a line boundary: its hot fields share two lines (server.h) */
    sb_wsconn *c = sb_calloc_lines(sizeof *c);
    int prep = 0;

    if (!c)
        return NULL;
    /* the caps come before anything else is spent on a request: a full
     * server answers 503 (429 over the connect rate) at the handshake,
     * which clients treat as "try later" */
    if ((*status = sb_peers_admit(s, r, c, reason, reason_len)) != 0) {
        free(c->ip);
        free(c);
        return NULL;
    }
    c->srv = s;
    c->shared = &s->shared;
    s->refs++;
    c->ops = ops;
    c->proto_index = sb_server_index_of(s, ops);
    c->close_reason = "";
    sb_buf_init(&c->rx, 0);
    sb_hub_attach(s->hub, &c->hc, ops->deliver, c);
    sb_server_make_uid(s, c->uid);
    if (chan && !(c->channel = sb_server_strdup(chan)))
        chan = "";
    if ((chan && !sb_hub_valid_channel(chan, strlen(chan))) ||
        (ops->prepare && (prep = ops->prepare(c, r)) != 0) ||
        sb_wsconn_set_member(c, c->uid, strlen(c->uid))) {
        sb_wsconn_free(c);
        *status = prep > 0 ? prep : HTTP_STATUS_BAD_REQUEST;
        snprintf(reason, reason_len, "%s", prep > 0 ? "refused" : "bad channel name or options");
        return NULL;
    }
    return c;
}

/* The app's connect hook: 0 to accept, else the HTTP status to refuse
 * with (reason filled). */
static int sb_server_ask_app(sb_server *s, sb_wsconn *c, const sb_reqsrc *r,
                             const char *path, char *reason, size_t reason_len)
{
    sb_request req;
    int status;

    req.src = r;
    req.path = path;
    req.protocol = c->ops->name;
    req.token = c->ops->token ? c->ops->token(c, &req.token_len) : NULL;
    if (!req.token)
        req.token_len = 0;
    status = s->hooks.connect ? s->hooks.connect(s->hooks.ud, c, &req, reason,
                                                 reason_len) : 0;
    if (status && !reason[0])
        snprintf(reason, reason_len, "refused");
    return status;
}

sb_wsconn *sb_server_accept(sb_server *s, const sb_reqsrc *r,
                            const sb_proto_ops *ops, const char *path,
                            const char *chan, int *status, char *reason,
                            size_t reason_len)
{
    sb_wsconn *c;
    char key[64];

    *status = 0;
    reason[0] = '\0';
    if (s->closing) {
        *status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        snprintf(reason, reason_len, "server closing");
        return NULL;
    }
    if (sb_request_repeated(r, key, sizeof key)) {
        *status = HTTP_STATUS_BAD_REQUEST;
        snprintf(reason, reason_len, "query parameter '%s' given twice", key);
        return NULL;
    }
    c = sb_server_make_conn(s, r, ops, chan, status, reason, reason_len);
    if (!c)
        return NULL;
    *status = sb_server_ask_app(s, c, r, path, reason, reason_len);
    if (*status) {
        sb_wsconn_free(c);
        return NULL;
    }
    sb_limits_socket(&s->cfg, r);
    c->counted = 1;
    s->shared.stats.open[c->proto_index]++;
    s->nconns++;
    sb_trimmer_count(&s->trim, s->nconns);
    sb_peers_take(s, c);
    sb_server_link(s, c);   /* sb_server_close reaches every protocol */
    return c;
}

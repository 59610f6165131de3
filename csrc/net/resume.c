/* Resuming from history: see resume.h. */
#include "resume.h"

#include <stdlib.h>
#include <string.h>

#include "codec/msgid.h"

/* Messages a connection may hold back while its read is in flight (one
 * Redis round trip); a channel busier than that closes it instead. */
#define SB_RESUME_HOLD_MAX 10000
#define SB_RESUME_ID_MAX 64

/* A read of the shared history in progress (c->resume), and after it was
 * answered, the floor: the last position the read covered. */
struct sb_resume_wait {
    const sb_resume_ops *ops;
    sb_fetch *fetch;        /* NULL until sent, and once answered */
    int done;               /* answered: only the floor is left */
    uint64_t epoch, offset; /* the position asked for; once done, the floor */
    sb_msg **held;
    size_t n, cap;
    size_t idlen;
    char id[SB_RESUME_ID_MAX + 1];
};

struct sb_resume_ctx {
    sb_wsconn *c;
    const sb_resume_ops *ops;
};

/* Binary messages are kept but never replayed: a binary frame cannot carry
 * its position, so a client could not say it had one already, and a replay
 * would repeat what it got live (docs/protocols.md#binary-messages). */
static void sb_resume_replay(sb_wsconn *c, const sb_resume_ops *ops, sb_msg *m)
{
    if (!m->binary)
        ops->send(c, m);
}

static void sb_resume_one(sb_msg *m, void *ud)
{
    struct sb_resume_ctx *x = ud;

    sb_resume_replay(x->c, x->ops, m);
}

/* Names why the hub could not serve the position, from what it knows now,
 * so the client can tell "channel recreated" from "you were away too long". */
static const char *sb_resume_why(uint64_t want_epoch, uint64_t want_off,
                                 uint64_t epoch, uint64_t off)
{
    if (!epoch)
        return "unknown-channel";
    if (want_epoch != epoch)
        return "epoch-changed";
    if (want_off > off)
        return "unknown-position";
    return "history-expired";
}

static int sb_resume_failed(sb_wsconn *c, sb_resume_fail *fail,
                            const char *id, size_t idlen,
                            const sb_resume_ops *ops)
{
    sb_server_stats_of(c->srv)->recovery_failed++;
    ops->fail(c, fail, id, idlen);
    return SB_RESUME_FAILED;
}

/* Sets up c->resume for a read after the join. */
static int sb_resume_defer(sb_wsconn *c, const char *id, size_t idlen,
                           uint64_t e, uint64_t o, const sb_resume_ops *ops)
{
    struct sb_resume_wait *w = calloc(1, sizeof *w);

    if (!w)
        return -1;
    w->ops = ops;
    w->epoch = e;
    w->offset = o;
    w->idlen = idlen < SB_RESUME_ID_MAX ? idlen : SB_RESUME_ID_MAX;
    memcpy(w->id, id, w->idlen);
    c->resume = w;
    return SB_RESUME_ASYNC;
}

int sb_resume(sb_wsconn *c, const char *id, size_t idlen,
              const sb_resume_ops *ops)
{
    sb_hub *hub = sb_server_hub(c->srv);
    size_t chlen = strlen(c->channel);
    sb_resume_fail fail;
    struct sb_resume_ctx x;
    uint64_t e = 0, o = 0;
    int rc, shared;

    memset(&fail, 0, sizeof fail);
    sb_hub_position(hub, c->channel, chlen, &fail.epoch, &fail.offset);
    if (sb_msgid_parse(id, idlen, &e, &o)) {
        fail.reason = "bad-id";
        return sb_resume_failed(c, &fail, id, idlen, ops);
    }
    x.c = c;
    x.ops = ops;
    rc = sb_hub_replay(hub, c->channel, chlen, e, o, sb_resume_one, &x);
    if (rc >= 0) {
        sb_server_stats_of(c->srv)->recovered++;
        return rc;
    }
    shared = rc == SB_EGAP ? sb_hub_history_shared(hub, c->channel, chlen) : 0;
    if (shared > 0 && sb_resume_defer(c, id, idlen, e, o, ops) == SB_RESUME_ASYNC)
        return SB_RESUME_ASYNC;
    fail.reason = rc == SB_ENOMEM || shared > 0 ? "out-of-memory"
                  : shared < 0 ? "redis-unavailable"
                  : sb_resume_why(e, o, fail.epoch, fail.offset);
    return sb_resume_failed(c, &fail, id, idlen, ops);
}

/* 1 when the read (an authoritative page or the floor it left, at
 * epoch-offset) already covered m.  Unnumbered messages (epoch 0: direct
 * messages, Phoenix presence diffs, publishes Redis refused) are never in
 * the history, so never covered. */
static int sb_resume_covered(const sb_msg *m, uint64_t epoch, uint64_t offset)
{
    return m->epoch && m->epoch == epoch && m->offset <= offset;
}

/* The held messages go out, minus what the read covered. */
static void sb_resume_release(sb_wsconn *c, struct sb_resume_wait *w,
                              const sb_history_page *pg)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        sb_msg *m = w->held[i];
        if (!(pg->authoritative && sb_resume_covered(m, pg->epoch, pg->offset)))
            w->ops->send(c, m);
        sb_msg_unref(m);
    }
    free(w->held);
    w->held = NULL;
    w->n = w->cap = 0;
}

/* The read came (or failed): replay or report, then what was held back,
 * skipping what the shared history says the client has now.  An
 * authoritative read leaves a floor behind: the read went to Redis on the
 * command link, so messages it covered may still be on their way to this
 * node over the subscription (waiting behind a hole); when the hub hands
 * them over they must not reach the client a second time. */
static void sb_resume_done(void *ud, const sb_history_page *pg)
{
    sb_wsconn *c = ud;
    struct sb_resume_wait *w = c->resume;
    sb_resume_fail fail;
    size_t i;

    c->resume = NULL;   /* detached while sending; the floor goes back */
    if (!pg->reason) {
        for (i = 0; i < pg->n; i++)
            sb_resume_replay(c, w->ops, pg->msgs[i]);
        sb_server_stats_of(c->srv)->recovered++;
    } else {
        fail.reason = pg->reason;
        fail.epoch = pg->epoch;
        fail.offset = pg->offset;
        sb_server_stats_of(c->srv)->recovery_failed++;
        w->ops->fail(c, &fail, w->id, w->idlen);
    }
    sb_resume_release(c, w, pg);
    if (pg->authoritative && pg->epoch && !c->closed) {
        w->fetch = NULL;
        w->done = 1;
        w->epoch = pg->epoch;
        w->offset = pg->offset;
        c->resume = w;
    } else {
        free(w);
    }
}

void sb_resume_fetch(sb_wsconn *c)
{
    struct sb_resume_wait *w = c->resume;
    sb_history_page pg;

    if (!w || w->fetch || w->done)
        return;
    w->fetch = sb_hub_history_fetch(sb_server_hub(c->srv), c->channel,
                                    strlen(c->channel), w->epoch, w->offset,
                                    sb_resume_done, c);
    if (w->fetch)
        return;
    memset(&pg, 0, sizeof pg);
    pg.reason = "redis-unavailable";
    sb_hub_position(sb_server_hub(c->srv), c->channel, strlen(c->channel),
                    &pg.epoch, &pg.offset);
    sb_resume_done(c, &pg);
}

/* Below the floor: covered by the read already (1).  A numbered message
 * past it passes the floor for good, since the hub hands a channel's
 * numbered messages over in order, and the floor is dropped; an
 * unnumbered one goes out and leaves the floor in place (0 both). */
static int sb_resume_below_floor(sb_wsconn *c, struct sb_resume_wait *w,
                                 const sb_msg *m)
{
    if (sb_resume_covered(m, w->epoch, w->offset))
        return 1;
    if (!m->epoch)
        return 0;
    c->resume = NULL;
    free(w);
    return 0;
}

int sb_resume_hold(sb_wsconn *c, sb_msg *m)
{
    struct sb_resume_wait *w = c->resume;
    sb_msg **grown;

    if (!w)
        return 0;
    if (w->done)
        return sb_resume_below_floor(c, w, m);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        if (w->n >= SB_RESUME_HOLD_MAX ||
            !(grown = realloc(w->held, cap * sizeof *grown))) {
            sb_resume_drop(c);
            sb_wsconn_close(c, 1013, "recovery took too long");
            return 1;
        }
        w->held = grown;
        w->cap = cap;
    }
    w->held[w->n++] = sb_msg_ref(m);
    return 1;
}

void sb_resume_drop(sb_wsconn *c)
{
    struct sb_resume_wait *w = c->resume;

    if (!w)
        return;
    c->resume = NULL;
    if (w->fetch)
        sb_hub_history_cancel(sb_server_hub(c->srv), w->fetch);
    while (w->n)
        sb_msg_unref(w->held[--w->n]);
    free(w->held);
    free(w);
}

void sb_resume_fail_json(sb_buf *b, const sb_resume_fail *f, const char *id,
                         size_t idlen)
{
    size_t i;

    /* the id comes from the client: echo it only when it is plain ASCII,
     * so the JSON stays valid UTF-8 whatever was sent */
    for (i = 0; i < idlen; i++)
        if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
            idlen = 0;
    sb_buf_adds(b, "{\"reason\":");
    sb_buf_add_json_string(b, f->reason, strlen(f->reason));
    sb_buf_adds(b, ",\"lastEventId\":");
    sb_buf_add_json_string(b, id, idlen);
    sb_buf_adds(b, ",\"epoch\":");
    sb_buf_add_u64(b, f->epoch);
    sb_buf_adds(b, ",\"offset\":");
    sb_buf_add_u64(b, f->offset);
    sb_buf_addc(b, '}');
}

int sb_resume_join(sb_wsconn *c, int resumed)
{
    int rc = sb_hub_join(sb_server_hub(c->srv), c->channel, strlen(c->channel),
                         c->member, strlen(c->member), &c->hc);

    if (rc < 0) {
        sb_resume_drop(c);
        return rc;
    }
    c->open = 1;
    if (resumed == SB_RESUME_ASYNC)
        sb_resume_fetch(c);
    return 0;
}

/* Shared history through Redis (see cluster.h).
 *
 * Keys and scripts: cluster_scripts.c.
 *
 * Numbering: PUBLISH_SCRIPT gives a message the next offset of its
 * channel's epoch atomically with XADD and PUBLISH, so every node sees
 * one order and the same ids.  The publishing node does not deliver at
 * once: the message comes back numbered in the script's reply, and
 * cluster_order.c hands it to the hub in offset order with the others.
 *
 * Following: when a node starts following a channel it reads the
 * channel's position (the baseline: what came before is history, what
 * comes after is live here), and once its subscription is confirmed it
 * reads what was published in between (a fill).  The hub's ring is then a
 * cache of the stream: recoveries it can serve stay synchronous, the
 * others read the stream (history_fetch).
 *
 * Outage: shared channels fall back to local epochs (sb_hub_history_break)
 * and local numbering: local fan-out goes on; a client resuming with a
 * cluster id meanwhile gets recovery-failed (redis-unavailable).  When
 * Redis returns every followed channel reads its baseline again, so its
 * ids are the cluster's again (a new epoch for clients that only saw
 * local ids). */
#include "cluster_internal.h"
#include "base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read of the stream: the baseline or a fill of a followed channel. */
typedef struct cl_hread {
    cl_req head;
    int fill;
    uint64_t follow_id;
    uint64_t epoch, after;  /* the cursor when the fill was sent */
    size_t len;
    char name[];
} cl_hread;

/* A read for a recovering client (sb_hub_history_fetch). */
struct sb_fetch {
    cl_req head;
    sb_fetch_fn fn;
    void *ud;
    int cancelled;
    uint64_t epoch, after;  /* asked for (to send it again) */
    double ttl;
    size_t len;
    char name[];
};

/* This node's numbered publish, waiting for its number. */
typedef struct cl_hpub {
    cl_req head;
    cl_entry e;
} cl_hpub;

/* A baseline (fill = 0) or fill read for a followed channel. */
static void read_channel(sb_cluster *cl, cl_channel *cc, int fill)
{
    cl_hread *hr = calloc(1, sizeof *hr + cc->len + 1);

    if (!hr)
        return;
    hr->head.tag = TAG_HREAD;
    hr->fill = fill;
    hr->follow_id = cc->follow_id;
    hr->epoch = cc->cur_epoch;
    hr->after = cc->cur_off;
    hr->len = cc->len;
    memcpy(hr->name, cc->name, cc->len);
    if (sb_cl_send_read(cl, &hr->head, cc->name, cc->len, fill ? NULL : "",
                  cc->cur_epoch, cc->cur_off, 0, fill)) {
        free(hr);
        return;
    }
    if (fill)
        cc->filling++;
}

void sb_cl_hist_fill(sb_cluster *cl, cl_channel *cc)
{
    if (cc->synced && sb_redis_is_up(cl->r))
        read_channel(cl, cc, 1);
}

void sb_cl_hist_down(sb_cluster *cl)
{
    strlist names;
    sb_map_iter it;
    void *val;
    size_t i;
    cl_channel *cc;

    cl->sha_pub[0] = cl->sha_read[0] = '\0';
    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val))
        if (((cl_channel *)val)->hist && ((cl_channel *)val)->active)
            sb_cl_strlist_add(&names, ((cl_channel *)val)->name,
                              ((cl_channel *)val)->len);
    for (i = 0; i < names.n; i++) {
        sb_cl_order_flush(cl, names.s[i], names.len[i]);
        if ((cc = sb_map_get(&cl->channels, names.s[i], names.len[i])) != NULL)
            sb_cl_hist_unfollow(cc);
        /* this node can no longer tell what it misses: local numbers
         * from here on, in an epoch no cluster id matches */
        sb_hub_history_break(cl->hub, names.s[i], names.len[i]);
    }
    sb_cl_strlist_free(&names);
}

int sb_cl_hist_publish(sb_cluster *cl, sb_msg *m, uint64_t except_id,
                       const char *em, size_t emlen)
{
    cl_hpub *hp;
    cl_channel *cc;

    if (!sb_redis_is_up(cl->r)) {
        cl->st.lost++;
        return SB_PUBLISH_LOCAL;
    }
    if ((hp = calloc(1, sizeof *hp)) != NULL) {
        hp->head.tag = TAG_HPUB;
        hp->e.m = sb_msg_ref(m);
        hp->e.except_conn = except_id;
        hp->e.emlen = emlen;
        if (em)
            hp->e.em = sb_memdup(em, emlen);
    }
    if (!hp || (em && !hp->e.em) ||
        sb_cl_send_numbered(cl, &hp->head, m, em, emlen)) {
        /* Redis never saw it: this node's connections get it, unnumbered */
        if (hp)
            sb_cl_entry_free(&hp->e);
        free(hp);
        cl->st.lost++;
        cl->st.unnumbered++;
        return SB_PUBLISH_UNNUMBERED;
    }
    cl->st.published++;
    cc = sb_map_get(&cl->channels, m->channel, m->channel_len);
    if (cc && cc->active && cc->hist)
        cc->own_inflight++;
    return SB_PUBLISH_TAKEN;
}

void sb_cl_hist_follow(sb_cluster *cl, cl_channel *cc)
{
    size_t count;
    double ttl;

    sb_hub_history_rule(cl->hub, cc->name, cc->len, &count, &ttl);
    sb_cl_hist_unfollow(cc);
    cc->hist = count > 0;
    cc->follow_id = ++cl->follow_seq;
    if (cc->hist && sb_redis_is_up(cl->r))
        read_channel(cl, cc, 0);
}

void sb_cl_hist_subscribed(sb_cluster *cl, cl_channel *cc)
{
    if (!cc->hist)
        return;
    if (!cc->synced)
        cc->fill_on_sync = 1;
    else
        read_channel(cl, cc, 1);
}

void sb_cl_hist_unfollow(cl_channel *cc)
{
    sb_cl_order_clear(cc);
    cc->synced = cc->filling = cc->fill_on_sync = cc->own_inflight = 0;
    cc->draining = 0;
    cc->cur_epoch = cc->cur_off = 0;
}

void sb_cl_hist_message(sb_cluster *cl, cl_channel *cc, const field *f, int n)
{
    cl_entry e;

    if (n != 13 || sb_cl_entry_from_fields(cc->name, cc->len, f, &e)) {
        cl->st.bad_messages++;
        return;
    }
    cl->st.received++;
    sb_cl_order_insert(cl, cc, &e);
    sb_cl_order_drain(cl, cc->name, cc->len);
}

/* A reply element as a number (0 if it is not a decimal string). */
static uint64_t rep_u64(const redisReply *r)
{
    field f;

    if (!r || r->type != REDIS_REPLY_STRING)
        return 0;
    f.p = r->str;
    f.n = r->len;
    return sb_cl_field_u64(&f);
}

static int is_error(const redisReply *rep)
{
    return !rep || rep->type == REDIS_REPLY_ERROR;
}

/* An own publish was refused or its link died: Redis may not have it,
 * so it has no id, but this node's connections still get it. */
static void hpub_failed(sb_cluster *cl, cl_hpub *hp, const redisReply *rep)
{
    char line[512];
    sb_msg *m = hp->e.m;

    if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOSCRIPT"))
        cl->sha_pub[0] = '\0';
    cl->st.lost++;
    cl->st.unnumbered++;
    if (cl->st.published)
        cl->st.published--;
    if (rep && (cl->st.unnumbered & (cl->st.unnumbered - 1)) == 0) {
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s: Redis refused a message on %.*s "
                 "(%.200s); %llu message(s) so far went to local connections "
                 "only, without an id",
                 cl->node, (int)m->channel_len, m->channel,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply",
                 (unsigned long long)cl->st.unnumbered);
        sb_cl_log(cl, line);
    }
    m->epoch = m->offset = 0;
    sb_hub_publish_at(cl->hub, m, hp->e.except_conn, hp->e.em, hp->e.emlen);
}

/* 1 when a script was refused because Redis lost it (SCRIPT FLUSH): it
 * never ran, so it is safe to send again with EVAL. */
static int noscript(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOSCRIPT");
}

/* Returns 1 when hp was sent again (the caller must keep it). */
static int on_hpub(sb_cluster *cl, cl_hpub *hp, const redisReply *rep)
{
    sb_msg *m = hp->e.m;
    cl_channel *cc = sb_map_get(&cl->channels, m->channel, m->channel_len);

    if (noscript(rep)) {
        cl->sha_pub[0] = '\0';
        if (sb_cl_send_numbered(cl, &hp->head, m, hp->e.em, hp->e.emlen) == 0)
            return 1;
    }
    if (cc && cc->own_inflight)
        cc->own_inflight--;
    if (is_error(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        !rep_u64(rep->element[0]) || !rep_u64(rep->element[1])) {
        hpub_failed(cl, hp, rep);
        return 0;
    }
    m->epoch = rep_u64(rep->element[0]);
    m->offset = rep_u64(rep->element[1]);
    if (!cc || !cc->active)
        return 0; /* nobody here: it is in Redis for the others */
    if (!cc->hist) {
        sb_hub_publish_at(cl->hub, m, hp->e.except_conn, hp->e.em, hp->e.emlen);
        return 0;
    }
    sb_cl_order_insert(cl, cc, &hp->e);
    sb_cl_order_drain(cl, m->channel, m->channel_len);
    return 0;
}

/* The baseline came: the cursor starts there. */
static void on_baseline(sb_cluster *cl, cl_channel *cc, uint64_t e, uint64_t o)
{
    cc->synced = 1;
    cc->cur_epoch = e;
    cc->cur_off = o;
    if (e)
        sb_hub_history_set_position(cl->hub, cc->name, cc->len, e, o);
    if (cc->fill_on_sync) {
        cc->fill_on_sync = 0;
        read_channel(cl, cc, 1);
    }
    sb_cl_order_drain(cl, cc->name, cc->len);
}

/* What a fill could not close: the stream no longer reaches back to the
 * cursor (or the channel was recreated).  The missing messages are
 * skipped, counted and logged. */
static void fill_failed(sb_cluster *cl, cl_channel *cc, const char *why,
                        uint64_t e, uint64_t o)
{
    char line[512];
    uint64_t lost = 0;

    if (strcmp(why, "epoch-changed") == 0) {
        if (e > cc->cur_epoch) {
            /* recreated meanwhile: everything of the new epoch is due */
            cc->cur_epoch = e;
            cc->cur_off = 0;
            read_channel(cl, cc, 1);
        }
        return;
    }
    /* unknown-channel: the channel's keys are gone from Redis (expired,
     * flushed), so a hole before what is pending can never be read: give
     * it up like a partial read, or the drain would ask again forever */
    if (strcmp(why, "partial") != 0 && strcmp(why, "unknown-channel") != 0)
        return;
    if (cc->npending) {
        lost = sb_cl_order_skip(cl, cc);
    } else if (e == cc->cur_epoch && o > cc->cur_off) {
        lost = o - cc->cur_off;
        cl->st.history_gaps += lost;
        cc->cur_off = o;
        sb_hub_history_set_position(cl->hub, cc->name, cc->len, e, o);
    }
    if (lost) {
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s missed %llu message(s) of %s (no "
                 "longer in Redis when it read them); its connections skip them",
                 cl->node, (unsigned long long)lost, cc->name);
        sb_cl_log(cl, line);
    }
}

/* Redis refused a baseline or fill read (not for a lost script): logged,
 * and the channel goes on without it, so messages are never held back
 * for good: with no baseline every message counts as live, a hole is
 * skipped. */
static void read_refused(sb_cluster *cl, cl_channel *cc, const cl_hread *hr,
                         const redisReply *rep)
{
    char line[512];

    cl->read_errors++;
    if ((cl->read_errors & (cl->read_errors - 1)) == 0) {
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s: Redis refused a history read of "
                 "%s (%.200s); %llu refused so far",
                 cl->node, cc->name,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply",
                 (unsigned long long)cl->read_errors);
        sb_cl_log(cl, line);
    }
    if (!hr->fill) {
        on_baseline(cl, cc, 0, 0);
        return;
    }
    if (cc->npending)
        sb_cl_order_skip(cl, cc);
    sb_cl_order_drain(cl, cc->name, cc->len);
}

static void on_hread(sb_cluster *cl, cl_hread *hr, const redisReply *rep)
{
    cl_channel *cc = sb_map_get(&cl->channels, hr->name, hr->len);
    cl_entry e;
    size_t i;

    if (!cc || !cc->active || !cc->hist || cc->follow_id != hr->follow_id)
        return;
    if (hr->fill && cc->filling)
        cc->filling--;
    if (!rep)
        return; /* the link went: following starts again when it returns */
    if (noscript(rep)) {
        cl->sha_read[0] = '\0';
        read_channel(cl, cc, hr->fill);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[2]->type != REDIS_REPLY_STRING) {
        read_refused(cl, cc, hr, rep);
        return;
    }
    if (!hr->fill) {
        on_baseline(cl, cc, rep_u64(rep->element[0]), rep_u64(rep->element[1]));
        return;
    }
    for (i = 3; i < rep->elements; i++) {
        const redisReply *p = rep->element[i];
        if (p->type != REDIS_REPLY_STRING ||
            sb_cl_entry_from_payload(cc->name, cc->len, p->str, p->len, &e)) {
            cl->st.bad_messages++;
            continue;
        }
        sb_cl_order_insert(cl, cc, &e);
    }
    /* a verdict about a cursor that has moved on since means nothing: the
     * drain asks again if a hole is left */
    if (rep->element[2]->len && hr->epoch == cc->cur_epoch &&
        hr->after == cc->cur_off)
        fill_failed(cl, cc, rep->element[2]->str, rep_u64(rep->element[0]),
                    rep_u64(rep->element[1]));
    sb_cl_order_drain(cl, hr->name, hr->len);
}

/* The reasons a read can give, as static strings for the page. */
static const char *reason_of(const redisReply *r)
{
    static const char *const known[] = { "epoch-changed", "unknown-position",
                                         "history-expired", "unknown-channel" };
    size_t i;

    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(r->str, known[i]) == 0)
            return known[i];
    return "history-expired";
}

/* Answers a recovering client's read (unless it was cancelled).  Returns
 * 1 when f was sent again (the caller must keep it). */
static int on_fetch(sb_cluster *cl, sb_fetch *f, const redisReply *rep)
{
    sb_history_page pg;
    size_t i;
    cl_entry e;

    memset(&pg, 0, sizeof pg);
    if (f->cancelled)
        return 0;
    if (noscript(rep)) {
        cl->sha_read[0] = '\0';
        if (sb_cl_send_read(cl, &f->head, f->name, f->len, NULL, f->epoch,
                            f->after, f->ttl, 0) == 0)
            return 1;
    }
    if (is_error(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[2]->type != REDIS_REPLY_STRING) {
        pg.reason = "redis-unavailable";
        sb_hub_position(cl->hub, f->name, f->len, &pg.epoch, &pg.offset);
        f->fn(f->ud, &pg);
        return 0;
    }
    pg.authoritative = 1;
    pg.epoch = rep_u64(rep->element[0]);
    pg.offset = rep_u64(rep->element[1]);
    if (rep->element[2]->len)
        pg.reason = reason_of(rep->element[2]);
    else if (rep->elements > 3 &&
             !(pg.msgs = calloc(rep->elements - 3, sizeof *pg.msgs)))
        pg.reason = "out-of-memory";
    for (i = 3; !pg.reason && i < rep->elements; i++) {
        const redisReply *p = rep->element[i];
        if (p->type != REDIS_REPLY_STRING ||
            sb_cl_entry_from_payload(f->name, f->len, p->str, p->len, &e)) {
            pg.reason = "history-expired";
            break;
        }
        pg.msgs[pg.n++] = sb_msg_ref(e.m);
        sb_cl_entry_free(&e);
    }
    if (pg.reason) {
        while (pg.n)
            sb_msg_unref(pg.msgs[--pg.n]);
    }
    f->fn(f->ud, &pg);
    for (i = 0; i < pg.n; i++)
        sb_msg_unref(pg.msgs[i]);
    free(pg.msgs);
    return 0;
}

void sb_cl_hist_reply(sb_cluster *cl, cl_req *req, redisReply *rep)
{
    switch (req->tag) {
    case TAG_SCRIPT_PUB:
    case TAG_SCRIPT_READ:
        if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40 &&
            sb_redis_is_up(cl->r))
            memcpy(req->tag == TAG_SCRIPT_PUB ? cl->sha_pub : cl->sha_read,
                   rep->str, 41);
        return;
    case TAG_HPUB:
        sb_cl_req_done(cl, req);
        if (on_hpub(cl, (cl_hpub *)req, rep))
            return;
        sb_cl_entry_free(&((cl_hpub *)req)->e);
        break;
    case TAG_HREAD:
        sb_cl_req_done(cl, req);
        on_hread(cl, (cl_hread *)req, rep);
        break;
    case TAG_FETCH:
        sb_cl_req_done(cl, req);
        if (on_fetch(cl, (sb_fetch *)req, rep))
            return;
        break;
    default:
        return;
    }
    free(req);
}

/* Hub hooks. */
static int hook_shared(sb_hub *h, const char *ch, size_t chlen, void *ud)
{
    sb_cluster *cl = ud;
    size_t count;
    double ttl;

    sb_hub_history_rule(h, ch, chlen, &count, &ttl);
    if (!count)
        return 0;
    return sb_redis_is_up(cl->r) ? 1 : -1;
}

static sb_fetch *hook_fetch(sb_hub *h, const char *ch, size_t chlen,
                            uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                            void *fn_ud, void *ud)
{
    sb_cluster *cl = ud;
    sb_fetch *f;
    size_t count;
    double ttl;

    sb_hub_history_rule(h, ch, chlen, &count, &ttl);
    if (!count || !sb_redis_is_up(cl->r) || !(f = calloc(1, sizeof *f + chlen + 1)))
        return NULL;
    f->head.tag = TAG_FETCH;
    f->fn = fn;
    f->ud = fn_ud;
    f->epoch = epoch;
    f->after = after;
    f->ttl = ttl;
    f->len = chlen;
    memcpy(f->name, ch, chlen);
    if (sb_cl_send_read(cl, &f->head, ch, chlen, NULL, epoch, after, ttl, 0)) {
        free(f);
        return NULL;
    }
    return f;
}

sb_fetch *sb_cluster_history_read(sb_cluster *cl, const char *ch, size_t chlen,
                                  uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                                  void *ud, size_t *count)
{
    double ttl;

    sb_hub_history_rule(cl->hub, ch, chlen, count, &ttl);
    return hook_fetch(cl->hub, ch, chlen, epoch, after, fn, ud, cl);
}

static void hook_cancel(sb_hub *h, sb_fetch *f, void *ud)
{
    (void)h;
    (void)ud;
    f->cancelled = 1;
}

void sb_cl_hist_hooks(sb_hub_cluster_hooks *hh)
{
    hh->history_shared = hook_shared;
    hh->history_fetch = hook_fetch;
    hh->history_cancel = hook_cancel;
}

void sb_cl_hist_free(sb_cluster *cl)
{
    sb_history_page pg;
    cl_req *req;

    while ((req = cl->reqs) != NULL) {
        sb_cl_req_done(cl, req);
        if (req->tag == TAG_FETCH && !((sb_fetch *)req)->cancelled) {
            memset(&pg, 0, sizeof pg);
            pg.reason = "redis-unavailable";
            ((sb_fetch *)req)->fn(((sb_fetch *)req)->ud, &pg);
        } else if (req->tag == TAG_HPUB) {
            sb_cl_entry_free(&((cl_hpub *)req)->e);
        }
        free(req);
    }
}

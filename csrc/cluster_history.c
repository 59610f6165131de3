/* Shared history through Redis (see cluster.h).
 *
 * Keys, per channel with history (the hub's rules decide which):
 *   sb:hpos:<channel>  hash: e = epoch, o = last offset, g = generation
 *   sb:hist:<channel>  stream of kept messages: o = offset, p = the "n"
 *                      payload exactly as published
 *   sb:gen, sb:runid   Redis restart detection: each node runs BOOT_SCRIPT
 *                      first on every new link; when Redis' run id changed
 *                      the generation goes up, and a channel whose g
 *                      differs starts a new epoch (a restarted Redis may
 *                      have lost or rolled back its history, so the old
 *                      numbers must not be reused).
 * Both channel keys expire history_idle seconds after the last publish
 * (the stream after its ttl rule when that is shorter).  Streams are
 * trimmed with MAXLEN ~ count and MINID ~ now - ttl; reads enforce count
 * and ttl exactly.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: runid, gen.  Bumps the generation when Redis restarted. */
static const char BOOT_SCRIPT[] =
    "local id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''\n"
    "if redis.call('GET', KEYS[1]) ~= id then\n"
    "  redis.call('SET', KEYS[1], id)\n"
    "  redis.call('INCR', KEYS[2])\n"
    "end\n"
    "return 0\n";

/* KEYS: pos, stream, gen, epoch counter.  ARGV: head (sb1, n, node,
 * seq), the m fields, pub/sub channel, count, ttl ms, idle ms, stream
 * expiry ms.  Returns {epoch, offset}. */
static const char PUBLISH_SCRIPT[] =
    "local function ns(s) return #s .. ':' .. s .. ',' end\n"
    "local function now()\n"
    "  local t = redis.call('TIME')\n"
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local gen = redis.call('GET', KEYS[3]) or '0'\n"
    "local pos = redis.call('HMGET', KEYS[1], 'e', 'g')\n"
    "local e = pos[1]\n"
    "if not e or pos[2] ~= gen then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  e = string.format('%.0f', now() * 4096 + redis.call('INCR', KEYS[4]) % 4096)\n"
    "  redis.call('HSET', KEYS[1], 'e', e, 'o', 0, 'g', gen)\n"
    "end\n"
    "local o = string.format('%d', redis.call('HINCRBY', KEYS[1], 'o', 1))\n"
    "local p = ARGV[1] .. ns(e) .. ns(o) .. ARGV[2]\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'o', o, 'p', p)\n"
    "if tonumber(ARGV[5]) > 0 then\n"
    "  redis.call('XTRIM', KEYS[2], 'MINID', '~',\n"
    "             string.format('%.0f', now() - tonumber(ARGV[5])))\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[6])\n"
    "redis.call('PUBLISH', ARGV[3], p)\n"
    "return {e, o}\n";

/* KEYS: pos, stream, gen.  ARGV: epoch ("" = position only), after,
 * count, ttl ms, mode.  Returns {epoch, offset, reason, payload...}:
 * reason "" and every payload after `after`, or a reason and none.  In
 * "fill" mode a history that no longer reaches back returns what it has
 * (the newest, up to count) with reason "partial". */
static const char READ_SCRIPT[] =
    "local gen = redis.call('GET', KEYS[3]) or '0'\n"
    "local pos = redis.call('HMGET', KEYS[1], 'e', 'o', 'g')\n"
    "if not pos[1] or pos[3] ~= gen then return {'0', '0', 'unknown-channel'} end\n"
    "local e, so = pos[1], pos[2]\n"
    "local o = tonumber(so)\n"
    "if ARGV[1] == '' then return {e, so, ''} end\n"
    "if ARGV[1] ~= e then return {e, so, 'epoch-changed'} end\n"
    "local after = tonumber(ARGV[2])\n"
    "if after > o then return {e, so, 'unknown-position'} end\n"
    "local fill = ARGV[5] == 'fill'\n"
    "local want = o - after\n"
    "if want == 0 then return {e, so, ''} end\n"
    "local n = want\n"
    "if n > tonumber(ARGV[3]) then\n"
    "  if not fill then return {e, so, 'history-expired'} end\n"
    "  n = tonumber(ARGV[3])\n"
    "end\n"
    "local r = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n)\n"
    "local first = r[#r]\n"
    "local whole = #r == want and first[2][2] == string.format('%d', after + 1)\n"
    "if fill then\n"
    "  local out = {e, so, whole and '' or 'partial'}\n"
    "  for i = #r, 1, -1 do out[#out + 1] = r[i][2][4] end\n"
    "  return out\n"
    "end\n"
    "if not whole then return {e, so, 'history-expired'} end\n"
    "if tonumber(ARGV[4]) > 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  if tonumber(string.match(first[1], '^(%d+)')) < now - tonumber(ARGV[4]) then\n"
    "    return {e, so, 'history-expired'}\n"
    "  end\n"
    "end\n"
    "local out = {e, so, ''}\n"
    "for i = #r, 1, -1 do out[#out + 1] = r[i][2][4] end\n"
    "return out\n";

#define KEYBUF (sizeof HPOS_PREFIX + sizeof HIST_PREFIX + SB_CHANNEL_MAX)
#define ARGS_MAX 16

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
    size_t len;
    char name[];
};

/* This node's numbered publish, waiting for its number. */
typedef struct cl_hpub {
    cl_req head;
    cl_entry e;
} cl_hpub;

/* The script's arguments under construction. */
typedef struct script_args {
    const char *v[ARGS_MAX];
    size_t n[ARGS_MAX];
    int argc;
    char keys[2][KEYBUF];
    char num[6][24];
    int nums;
} script_args;

static void arg(script_args *a, const char *p, size_t n)
{
    a->v[a->argc] = p;
    a->n[a->argc++] = n;
}

static void arg_u64(script_args *a, uint64_t v)
{
    char *s = a->num[a->nums++];

    snprintf(s, sizeof a->num[0], "%llu", (unsigned long long)v);
    arg(a, s, strlen(s));
}

/* The channel's keys (pos, stream, gen) as the first arguments. */
static void arg_keys(script_args *a, const char *ch, size_t chlen)
{
    arg(a, a->keys[0], sb_cl_make_key(a->keys[0], KEYBUF, HPOS_PREFIX, ch, chlen));
    arg(a, a->keys[1], sb_cl_make_key(a->keys[1], KEYBUF, HIST_PREFIX, ch, chlen));
    arg(a, GEN_KEY, strlen(GEN_KEY));
}

/* EVALSHA when the script is loaded on this link, else EVAL.  req is an
 * allocated request (listed on success), or NULL for a fixed tag. */
static int run_script(sb_cluster *cl, cl_req *req, int tag, const char *sha,
                      const char *body, size_t bodylen, int nkeys,
                      const script_args *a)
{
    const char *argv[ARGS_MAX + 3];
    size_t lens[ARGS_MAX + 3];
    char nk[8];
    int i;

    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = sha[0] ? "EVALSHA" : "EVAL";
    lens[0] = strlen(argv[0]);
    argv[1] = sha[0] ? sha : body;
    lens[1] = sha[0] ? 40 : bodylen;
    argv[2] = nk;
    lens[2] = strlen(nk);
    for (i = 0; i < a->argc; i++) {
        argv[3 + i] = a->v[i];
        lens[3 + i] = a->n[i];
    }
    if (req)
        return sb_cl_send_req(cl, req, 3 + a->argc, argv, lens);
    return sb_cl_send_argv(cl, tag, 3 + a->argc, argv, lens);
}

static void rule(sb_cluster *cl, const char *ch, size_t chlen, size_t *count,
                 double *ttl)
{
    sb_hub_history_rule(cl->hub, ch, chlen, count, ttl);
}

static uint64_t ms(double s)
{
    return s > 0 ? (uint64_t)(s * 1000 + 0.5) : 0;
}

/* Sends a read of (epoch, after); epoch_s NULL asks for the position
 * only.  Returns 0 or -1. */
static int send_read(sb_cluster *cl, cl_req *req, const char *ch,
                     size_t chlen, const char *epoch_s, uint64_t epoch,
                     uint64_t after, double ttl, int fill)
{
    script_args a;
    size_t count;
    double ignored;

    memset(&a, 0, sizeof a);
    rule(cl, ch, chlen, &count, &ignored);
    arg_keys(&a, ch, chlen);
    if (epoch_s)
        arg(&a, epoch_s, 0);
    else
        arg_u64(&a, epoch);
    arg_u64(&a, after);
    arg_u64(&a, count);
    arg_u64(&a, ms(ttl));
    arg(&a, fill ? "fill" : "", fill ? 4 : 0);
    return run_script(cl, req, 0, cl->sha_read, READ_SCRIPT,
                      sizeof READ_SCRIPT - 1, 3, &a);
}

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
    if (send_read(cl, &hr->head, cc->name, cc->len, fill ? NULL : "",
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

void sb_cl_hist_up(sb_cluster *cl)
{
    const char *argv[5];
    size_t lens[5];

    cl->sha_pub[0] = cl->sha_read[0] = '\0';
    argv[0] = "EVAL";
    argv[1] = BOOT_SCRIPT;
    argv[2] = "2";
    argv[3] = RUNID_KEY;
    argv[4] = GEN_KEY;
    lens[0] = 4;
    lens[1] = sizeof BOOT_SCRIPT - 1;
    lens[2] = 1;
    lens[3] = strlen(RUNID_KEY);
    lens[4] = strlen(GEN_KEY);
    sb_cl_send_argv(cl, TAG_OTHER, 5, argv, lens);
    argv[0] = "SCRIPT";
    argv[1] = "LOAD";
    argv[2] = PUBLISH_SCRIPT;
    lens[0] = 6;
    lens[1] = 4;
    lens[2] = sizeof PUBLISH_SCRIPT - 1;
    sb_cl_send_argv(cl, TAG_SCRIPT_PUB, 3, argv, lens);
    argv[2] = READ_SCRIPT;
    lens[2] = sizeof READ_SCRIPT - 1;
    sb_cl_send_argv(cl, TAG_SCRIPT_READ, 3, argv, lens);
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

int sb_cl_hist_publish(sb_cluster *cl, sb_msg *m, const sb_conn *except,
                       const char *em, size_t emlen)
{
    char chkey[sizeof CH_PREFIX + SB_CHANNEL_MAX], seqkey[sizeof GEN_KEY + 8];
    script_args a;
    cl_hpub *hp;
    sb_buf head, tail;
    size_t count;
    double ttl;
    cl_channel *cc;
    int rc = -1;

    if (!sb_redis_is_up(cl->r)) {
        cl->st.lost++;
        return SB_PUBLISH_LOCAL;
    }
    rule(cl, m->channel, m->channel_len, &count, &ttl);
    memset(&a, 0, sizeof a);
    sb_buf_init(&head, 0);
    sb_buf_init(&tail, 0);
    sb_cl_wire_head(cl, &head, "n");
    sb_cl_wire_msg_fields(&tail, m, em, emlen);
    hp = calloc(1, sizeof *hp);
    if (hp && !head.oom && !tail.oom && (!em || (hp->e.em = malloc(emlen + 1)))) {
        hp->head.tag = TAG_HPUB;
        hp->e.m = sb_msg_ref(m);
        hp->e.except_conn = except ? except->id : 0;
        if (em)
            memcpy(hp->e.em, em, emlen);
        hp->e.emlen = emlen;
        arg_keys(&a, m->channel, m->channel_len);
        snprintf(seqkey, sizeof seqkey, "%s:seq", GEN_KEY);
        arg(&a, seqkey, strlen(seqkey));
        arg(&a, (const char *)sb_buf_data(&head), head.len);
        arg(&a, (const char *)sb_buf_data(&tail), tail.len);
        arg(&a, chkey, sb_cl_make_key(chkey, sizeof chkey, CH_PREFIX, m->channel,
                                      m->channel_len));
        arg_u64(&a, count);
        arg_u64(&a, ms(ttl));
        arg_u64(&a, ms(cl->history_idle));
        arg_u64(&a, ms(ttl > 0 && ttl < cl->history_idle ? ttl : cl->history_idle));
        rc = run_script(cl, &hp->head, 0, cl->sha_pub, PUBLISH_SCRIPT,
                        sizeof PUBLISH_SCRIPT - 1, 4, &a);
    }
    sb_buf_free(&head);
    sb_buf_free(&tail);
    if (rc) {
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

    rule(cl, cc->name, cc->len, &count, &ttl);
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

static void on_hpub(sb_cluster *cl, cl_hpub *hp, const redisReply *rep)
{
    sb_msg *m = hp->e.m;
    cl_channel *cc = sb_map_get(&cl->channels, m->channel, m->channel_len);

    if (cc && cc->own_inflight)
        cc->own_inflight--;
    if (is_error(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        !rep_u64(rep->element[0]) || !rep_u64(rep->element[1])) {
        hpub_failed(cl, hp, rep);
        return;
    }
    m->epoch = rep_u64(rep->element[0]);
    m->offset = rep_u64(rep->element[1]);
    if (!cc || !cc->active)
        return; /* nobody here: it is in Redis for the others */
    if (!cc->hist) {
        sb_hub_publish_at(cl->hub, m, hp->e.except_conn, hp->e.em, hp->e.emlen);
        return;
    }
    sb_cl_order_insert(cl, cc, &hp->e);
    sb_cl_order_drain(cl, m->channel, m->channel_len);
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
    if (strcmp(why, "partial") != 0)
        return; /* unknown-channel: nothing in Redis to miss */
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

static void on_hread(sb_cluster *cl, cl_hread *hr, const redisReply *rep)
{
    cl_channel *cc = sb_map_get(&cl->channels, hr->name, hr->len);
    cl_entry e;
    size_t i;

    if (!cc || !cc->active || !cc->hist || cc->follow_id != hr->follow_id)
        return;
    if (hr->fill && cc->filling)
        cc->filling--;
    if (is_error(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[2]->type != REDIS_REPLY_STRING) {
        if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOSCRIPT"))
            cl->sha_read[0] = '\0';
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

/* Answers a recovering client's read (unless it was cancelled). */
static void on_fetch(sb_cluster *cl, sb_fetch *f, const redisReply *rep)
{
    sb_history_page pg;
    size_t i;
    cl_entry e;

    memset(&pg, 0, sizeof pg);
    if (f->cancelled)
        return;
    if (is_error(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[2]->type != REDIS_REPLY_STRING) {
        pg.reason = "redis-unavailable";
        sb_hub_position(cl->hub, f->name, f->len, &pg.epoch, &pg.offset);
        f->fn(f->ud, &pg);
        return;
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
        on_hpub(cl, (cl_hpub *)req, rep);
        sb_cl_entry_free(&((cl_hpub *)req)->e);
        break;
    case TAG_HREAD:
        sb_cl_req_done(cl, req);
        on_hread(cl, (cl_hread *)req, rep);
        break;
    case TAG_FETCH:
        sb_cl_req_done(cl, req);
        on_fetch(cl, (sb_fetch *)req, rep);
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
    f->len = chlen;
    memcpy(f->name, ch, chlen);
    if (send_read(cl, &f->head, ch, chlen, NULL, epoch, after, ttl, 0)) {
        free(f);
        return NULL;
    }
    return f;
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

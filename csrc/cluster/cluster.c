/* Scale-out through Redis: see cluster.h.
 *
 * This file holds the Redis link and channel following: publishing
 * local messages, subscribing to the channels with local connections,
 * and outage/reconnect handling; what arrives from the other nodes is
 * read and dispatched in cluster_receive.c.  The
 * wire format is documented in cluster_wire.c; every node's connections
 * in cluster_presence.c; node heartbeats, death and restarts in
 * cluster_nodes.c; publishes that wait for a subscription in
 * cluster_hold.c; shared history in cluster_history.c. */
#include "cluster_internal.h"
#include "base/str.h"
#include "net/siblings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_cl_strlist_add(strlist *l, const char *p, size_t n)
{
    char *copy;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **s = realloc(l->s, cap * sizeof *s);
        size_t *len;
        if (!s) {
            l->oom = 1;
            return;
        }
        l->s = s;
        len = realloc(l->len, cap * sizeof *len);
        if (!len) {
            l->oom = 1;
            return;
        }
        l->len = len;
        l->cap = cap;
    }
    if (!(copy = sb_memdup(p, n))) {
        l->oom = 1;
        return;
    }
    l->s[l->n] = copy;
    l->len[l->n++] = n;
}

void sb_cl_strlist_free(strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    free(l->len);
    memset(l, 0, sizeof *l);
}

double sb_cl_now_s(sb_cluster *cl)
{
    return (double)uv_now(cl->loop) / 1000.0;
}

void sb_cl_log(sb_cluster *cl, const char *line)
{
    if (cl->log)
        cl->log(line, cl->log_ud);
    else
        fprintf(stderr, "%s\n", line);
}

int sb_cluster_valid_node(const char *node, size_t n)
{
    return sb_hub_valid_word(node, n, SB_NODE_MAX, "_.:-");
}

/* "<prefix><name>" into buf; returns its length or 0 if it does not fit. */
size_t sb_cl_make_key(char *buf, size_t cap, const char *prefix,
                const char *name, size_t n)
{
    size_t pl = strlen(prefix);

    if (pl + n + 1 > cap)
        return 0;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, name, n);
    buf[pl + n] = '\0';
    return pl + n;
}

int sb_cl_send_argv(sb_cluster *cl, int tag, int argc, const char **argv,
              const size_t *lens)
{
    return sb_redis_command(cl->r, &cl->tags[tag], argc, argv, lens);
}

int sb_cl_send_req(sb_cluster *cl, cl_req *req, int argc, const char **argv,
                   const size_t *lens)
{
    if (sb_redis_command(cl->r, req, argc, argv, lens))
        return -1;
    req->prev = NULL;
    req->next = cl->reqs;
    if (cl->reqs)
        cl->reqs->prev = req;
    cl->reqs = req;
    return 0;
}

void sb_cl_req_done(sb_cluster *cl, cl_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        cl->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

/* PUBLISH payload on the Redis channel `name` (NUL-terminated). */
int sb_cl_publish_on(sb_cluster *cl, int tag, const char *name, sb_buf *payload)
{
    const char *argv[3];
    size_t lens[3];

    if (payload->oom)
        return -1;
    argv[0] = "PUBLISH";
    lens[0] = 7;
    argv[1] = name;
    lens[1] = strlen(name);
    argv[2] = (const char *)sb_buf_data(payload);
    lens[2] = payload->len;
    return sb_cl_send_argv(cl, tag, 3, argv, lens);
}

int sb_cl_publish_raw(sb_cluster *cl, int tag, const char *ch, size_t chlen,
                sb_buf *payload)
{
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];

    if (!ch)
        return sb_cl_publish_on(cl, tag, NODES_CHANNEL, payload);
    if (!sb_cl_make_key(key, sizeof key, CH_PREFIX, ch, chlen))
        return -1;
    return sb_cl_publish_on(cl, tag, key, payload);
}

/* Channel following. */
static void follow(sb_cluster *cl, cl_channel *cc)
{
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];
    size_t n = sb_cl_make_key(key, sizeof key, CH_PREFIX, cc->name, cc->len);

    if (cc->subscribed || cc->unsubscribing || !sb_redis_is_up(cl->r))
        return;
    /* the snapshot waits for the confirmation (on_subscribed): read
     * earlier, it could miss a member whose delta also came too early */
    if (sb_redis_subscribe(cl->r, key, n) == 0)
        cc->subscribed = 1;
}

static void channel_free(cl_channel *cc)
{
    sb_cl_drop_held(cc);
    sb_cl_hist_unfollow(cc);
    sb_cl_phx_clear(&cc->metas);
    sb_map_clear(&cc->phx_touched);
    free(cc);
}

static void forget_channel(sb_cluster *cl, cl_channel *cc)
{
    sb_map_del(&cl->channels, cc->name, cc->len);
    channel_free(cc);
}

/* After a (re)connect every channel is followed afresh on the new link,
 * and one no longer active is let go.  By name, from a copy: forgetting
 * one changes the map. */
static void refollow_all(sb_cluster *cl)
{
    sb_map_iter it;
    void *val;
    strlist names;
    size_t i;

    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val))
        sb_cl_strlist_add(&names, ((cl_channel *)val)->name, ((cl_channel *)val)->len);
    for (i = 0; i < names.n; i++) {
        cl_channel *cc = sb_map_get(&cl->channels, names.s[i], names.len[i]);
        if (!cc)
            continue;
        cc->subscribed = cc->unsubscribing = cc->confirmed = 0;
        cc->phx_snapshot = 0;
        sb_map_clear(&cc->phx_touched);
        sb_map_init(&cc->phx_touched, (uint64_t)(uintptr_t)cc ^ 2);
        if (!cc->active) {
            forget_channel(cl, cc);
            continue;
        }
        follow(cl, cc);
        sb_cl_hist_follow(cl, cc);
    }
    sb_cl_strlist_free(&names);
}

/* The link came back after an outage, or came up at last when Redis was
 * unreachable at start: an operator who saw the "cannot reach" or "lost"
 * line must see this one too. */
static void log_up(sb_cluster *cl, double t)
{
    char line[1024];

    if (cl->down_since < 0)
        return;
    if (cl->ever_up)
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s reconnected to %s after %.1f s; "
                 "%llu local message(s) were not sent to other nodes and "
                 "messages other nodes published meanwhile were not received "
                 "here; presence re-announced",
                 cl->node, cl->url, t - cl->down_since,
                 (unsigned long long)(cl->st.lost - cl->lost_at_down));
    else
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s connected to %s after %.1f s "
                 "without it; %llu local message(s) were not sent to other "
                 "nodes meanwhile",
                 cl->node, cl->url, t - cl->down_since,
                 (unsigned long long)(cl->st.lost - cl->lost_at_down));
    sb_cl_log(cl, line);
}

/* The link went: what waited for a subscription is lost (by name, from
 * a copy: a delivery may end a following). */
static void release_all_held(sb_cluster *cl)
{
    sb_map_iter it;
    void *val;
    strlist names;
    size_t i;
    cl_channel *cc;

    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val)) {
        cc = val;
        cc->confirmed = 0;
        if (cc->held)
            sb_cl_strlist_add(&names, cc->name, cc->len);
    }
    for (i = 0; i < names.n; i++)
        if ((cc = sb_map_get(&cl->channels, names.s[i], names.len[i])))
            sb_cl_release_held(cl, cc, 0);
    sb_cl_strlist_free(&names);
}

/* Redis link hooks. */
static void on_up(sb_redis *r, void *ud)
{
    sb_cluster *cl = ud;
    sb_map_iter it;
    void *val;
    double t = sb_cl_now_s(cl);

    (void)r;
    log_up(cl, t);
    cl->ever_up = 1;
    cl->down_since = -1;
    cl->st.connected = 1;
    /* first on the new link, ahead of any history script */
    sb_cl_hist_up(cl);
    /* other nodes could not be heard while down: give them a fresh TTL */
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        if (!((cl_node *)val)->dead)
            ((cl_node *)val)->last_seen = t;
    sb_cl_heartbeat(cl);
    cl->next_beat = t + cl->ttl / 4;
    /* nodes beat every ttl / 4, give or take a tick (ttl / 20) */
    cl->local_after = t + cl->ttl * 0.35;
    sb_redis_subscribe(cl->r, NODES_CHANNEL, strlen(NODES_CHANNEL));
    /* a snapshot lost with the old link must not leave its marks: they
     * would shield stale keys from the next one (read once subscribed) */
    sb_cl_settle_all_marks(cl);
    cl->pres_subscribed = 0;
    sb_redis_subscribe(cl->r, PRES_CHANNEL, strlen(PRES_CHANNEL));
    refollow_all(cl);
    sb_cl_announce_all(cl, 0);
    sb_cl_phx_announce_all(cl, 0);
}

static void on_down(sb_redis *r, const char *why, void *ud)
{
    sb_cluster *cl = ud;
    char line[1024];

    (void)r;
    if (cl->down_since >= 0)
        return; /* a failed retry of the same outage */
    cl->down_since = sb_cl_now_s(cl);
    cl->lost_at_down = cl->st.lost;
    cl->st.connected = 0;
    cl->st.synced = 0;
    cl->st.outages++;
    release_all_held(cl);
    sb_cl_hist_down(cl);
    snprintf(line, sizeof line,
             "switchboard(redis): node %s %s %s (%s); local fan-out goes on, "
             "cross-node messages are dropped and counted until it returns",
             cl->node, cl->ever_up ? "lost Redis at" : "cannot reach Redis at",
             cl->url, why);
    sb_cl_log(cl, line);
}

static void on_reply(sb_redis *r, void *req, redisReply *rep, void *ud)
{
    sb_cluster *cl = ud;
    int tag = ((cl_req *)req)->tag;

    (void)r;
    if (tag >= TAG_SCRIPT_PUB) {
        sb_cl_hist_reply(cl, req, rep);
        return;
    }
    if (tag == TAG_SNAPSHOT) {
        sb_cl_on_snapshot(cl, rep);
        return;
    }
    if (tag == TAG_PHX_SNAPSHOT) {
        sb_cl_phx_on_snapshot(cl, rep);
        return;
    }
    if (tag == TAG_PUBLISH && (!rep || rep->type == REDIS_REPLY_ERROR)) {
        /* it may or may not have reached Redis: count it as lost */
        cl->st.lost++;
        if (cl->st.published)
            cl->st.published--;
    }
}

/* The channel a Redis channel "sb:ch:<name>" stands for, with *ch and
 * *chlen moved onto the name; NULL for another Redis channel or a name
 * this node does not follow. */
cl_channel *sb_cl_channel_of(sb_cluster *cl, const char **ch, size_t *chlen)
{
    size_t pl = strlen(CH_PREFIX);

    if (*chlen <= pl || memcmp(*ch, CH_PREFIX, pl) != 0)
        return NULL;
    *ch += pl;
    *chlen -= pl;
    return sb_map_get(&cl->channels, *ch, *chlen);
}

static void on_unsubscribed(sb_redis *r, const char *ch, size_t chlen,
                            void *ud)
{
    sb_cluster *cl = ud;
    cl_channel *cc = sb_cl_channel_of(cl, &ch, &chlen);

    (void)r;
    if (!cc || !cc->unsubscribing)
        return;
    cc->unsubscribing = 0;
    if (cc->active)
        follow(cl, cc);
    else
        forget_channel(cl, cc);
}

static void on_subscribed(sb_redis *r, const char *ch, size_t chlen, void *ud)
{
    sb_cluster *cl = ud;
    cl_channel *cc;

    (void)r;
    if (chlen == strlen(PRES_CHANNEL) && memcmp(ch, PRES_CHANNEL, chlen) == 0) {
        /* read after the subscription: no change can fall between */
        cl->pres_subscribed = 1;
        sb_cl_request_snapshot(cl);
        return;
    }
    cc = sb_cl_channel_of(cl, &ch, &chlen);
    if (cc && cc->active && cc->subscribed && !cc->unsubscribing) {
        /* from now on what other nodes send here arrives: announce this
         * node's connections, then the publishes that waited for them */
        cc->confirmed = 1;
        sb_cl_announce_channel(cl, cc->name, cc->len, 0);
        sb_cl_release_held(cl, cc, 1);
        if (!(cc = sb_map_get(&cl->channels, ch, chlen)) || !cc->active)
            return;
        sb_cl_phx_request_snapshot(cl, cc);
        sb_cl_hist_subscribed(cl, cc);
    }
}

/* Hub hooks. */
static int on_published(sb_hub *h, sb_msg *m, const sb_conn *except,
                        const char *em, size_t emlen, void *ud)
{
    sb_cluster *cl = ud;
    size_t count;
    double ttl;
    uint64_t except_id = except ? except->id : 0;
    cl_channel *cc = sb_map_get(&cl->channels, m->channel, m->channel_len);

    sb_hub_history_rule(h, m->channel, m->channel_len, &count, &ttl);
    /* the node's presence there is not announced yet: after it */
    if (cc && cc->active && cc->subscribed && !cc->confirmed &&
        sb_redis_is_up(cl->r) && sb_cl_hold(cc, m, except_id, em, emlen, count > 0) == 0)
        return count ? SB_PUBLISH_TAKEN : SB_PUBLISH_LOCAL;
    if (count)
        return sb_cl_hist_publish(cl, m, except_id, em, emlen);
    sb_cl_publish_msg(cl, m, em, emlen);
    return SB_PUBLISH_LOCAL;
}

static void on_channel_active(sb_hub *h, const char *ch, size_t chlen,
                              int active, void *ud)
{
    sb_cluster *cl = ud;
    cl_channel *cc = sb_map_get(&cl->channels, ch, chlen);
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];
    size_t n;

    (void)h;
    if (active) {
        if (!cc) {
            if (!(cc = calloc(1, sizeof *cc + chlen + 1)))
                return;
            memcpy(cc->name, ch, chlen);
            cc->len = chlen;
            sb_map_init(&cc->metas, (uint64_t)(uintptr_t)cc ^ 1);
            sb_map_init(&cc->phx_touched, (uint64_t)(uintptr_t)cc ^ 2);
            if (sb_map_put(&cl->channels, cc->name, chlen, cc)) {
                free(cc);
                return;
            }
        }
        if (!cc->active)
            sb_cl_local_follow(cl, ch, chlen, 1);
        cc->active = 1;
        follow(cl, cc);
        sb_cl_hist_follow(cl, cc);
        return;
    }
    if (!cc)
        return;
    if (cc->active)
        sb_cl_local_follow(cl, ch, chlen, 0);
    cc->active = 0;
    cc->confirmed = 0;
    /* sent now: nobody here waits for them any more */
    sb_cl_release_held(cl, cc, sb_redis_is_up(cl->r));
    if (!(cc = sb_map_get(&cl->channels, ch, chlen)) || cc->active)
        return;
    /* every leave was sent (the link is up): nothing of this node's can
     * linger in Redis for the channel, no need to re-announce it */
    if (sb_redis_is_up(cl->r))
        sb_map_del(&cl->mine, ch, chlen);
    sb_cl_hist_unfollow(cc);
    sb_cl_phx_clear(&cc->metas);
    sb_map_init(&cc->metas, (uint64_t)(uintptr_t)cc ^ 1);
    sb_map_clear(&cc->phx_touched);
    sb_map_init(&cc->phx_touched, (uint64_t)(uintptr_t)cc ^ 2);
    cc->phx_snapshot = 0;
    if (cc->unsubscribing)
        return;
    n = sb_cl_make_key(key, sizeof key, CH_PREFIX, ch, chlen);
    if (cc->subscribed && sb_redis_unsubscribe(cl->r, key, n) == 0) {
        cc->subscribed = 0;
        cc->unsubscribing = 1;
        return;
    }
    forget_channel(cl, cc);
}

/* The timer's close callback frees the cluster (its data). */
static void on_tick_closed(uv_handle_t *h)
{
    free(h->data);
}

/* A cluster with its configuration read and nothing started; NULL when
 * memory ran out.  The node name is known to be valid. */
static sb_cluster *cluster_alloc(uv_loop_t *loop, sb_hub *hub,
                                 const sb_cluster_config *cfg)
{
    sb_cluster *cl = calloc(1, sizeof *cl);
    int tag;

    if (!cl)
        return NULL;
    cl->hub = hub;
    cl->loop = loop;
    cl->ttl = cfg->ttl > 0 ? cfg->ttl : 10;
    cl->history_idle = cfg->history_idle > 0 ? cfg->history_idle : 86400;
    for (tag = 0; tag < TAG_COUNT; tag++)
        cl->tags[tag].tag = tag;
    cl->down_since = -1;
    /* 53 bits: survives a trip through a Lua 5.1 number if ever exposed */
    cl->instance = (((uint64_t)uv_hrtime() << 20) ^ (uint64_t)(uintptr_t)cl) &
                   ((1ULL << 53) - 1);
    cl->log = cfg->log;
    cl->log_ud = cfg->log_ud;
    snprintf(cl->url, sizeof cl->url, "%s", cfg->url);
    cl->node_len = strlen(cfg->node);
    memcpy(cl->node, cfg->node, cl->node_len + 1);
    sb_map_init(&cl->channels, (uint64_t)(uintptr_t)cl);
    sb_map_init(&cl->nodes, (uint64_t)(uintptr_t)cl ^ 0x9e3779b97f4a7c15ULL);
    sb_map_init(&cl->own_metas, (uint64_t)(uintptr_t)cl ^ 0x5bd1e995ULL);
    sb_map_init(&cl->pchans, (uint64_t)(uintptr_t)cl ^ 0x27d4eb2fULL);
    sb_map_init(&cl->mine, (uint64_t)(uintptr_t)cl ^ 0x165667b1ULL);
    sb_cl_local_init(cl, cfg->siblings);
    return cl;
}

/* The link to Redis, with this file's hooks; NULL when memory ran out. */
static sb_redis *redis_link(sb_cluster *cl, const char *host, int port, int db)
{
    sb_redis_hooks rh;

    memset(&rh, 0, sizeof rh);
    rh.up = on_up;
    rh.down = on_down;
    rh.message = sb_cl_on_message;
    rh.reply = on_reply;
    rh.unsubscribed = on_unsubscribed;
    rh.subscribed = on_subscribed;
    rh.ud = cl;
    return sb_redis_new(cl->loop, host, port, db, &rh);
}

/* From now on the hub tells the cluster what to send. */
static void hook_hub(sb_cluster *cl)
{
    sb_hub_cluster_hooks hh;

    memset(&hh, 0, sizeof hh);
    hh.published = on_published;
    hh.local_conn = sb_cl_on_local_conn;
    hh.channel_active = on_channel_active;
    hh.typing = sb_cl_on_local_typing;
    hh.direct = sb_cl_on_local_direct;
    sb_cl_hist_hooks(&hh);
    hh.ud = cl;
    sb_hub_set_cluster_hooks(cl->hub, &hh);
}

sb_cluster *sb_cluster_new(uv_loop_t *loop, sb_hub *hub,
                           const sb_cluster_config *cfg, char *err,
                           size_t errlen)
{
    sb_cluster *cl;
    char host[256];
    int port, db;
    uint64_t every;

    if (!cfg->node || !sb_cluster_valid_node(cfg->node, strlen(cfg->node))) {
        snprintf(err, errlen, "node name must be 1..%d bytes of [A-Za-z0-9_.:-]",
                 SB_NODE_MAX);
        return NULL;
    }
    if (sb_redis_parse_url(cfg->url, host, sizeof host, &port, &db, err, errlen))
        return NULL;
    if (!(cl = cluster_alloc(loop, hub, cfg))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* the tick's close callback frees cl: from here on it is the way out */
    uv_timer_init(loop, &cl->tick);
    cl->tick.data = cl;
    every = (uint64_t)(cl->ttl * 1000 / 20);
    uv_timer_start(&cl->tick, sb_cl_on_tick, every ? every : 1, every ? every : 1);
    if (!(cl->r = redis_link(cl, host, port, db))) {
        snprintf(err, errlen, "out of memory");
        uv_close((uv_handle_t *)&cl->tick, on_tick_closed);
        return NULL;
    }
    hook_hub(cl);
    return cl;
}

void sb_cluster_free(sb_cluster *cl)
{
    char key[sizeof NODE_PREFIX + SB_NODE_MAX];
    const char *argv[2];
    size_t lens[2];
    sb_buf b;
    sb_map_iter it;
    void *val;

    if (!cl)
        return;
    sb_hub_set_cluster_hooks(cl->hub, NULL);
    if (sb_redis_is_up(cl->r)) {
        /* this node's entries go from the presence hashes, so nodes that
         * start following a channel later do not even see them */
        sb_cl_announce_all(cl, 1);
        sb_cl_phx_announce_all(cl, 1);
        sb_buf_init(&b, 0);
        sb_cl_wire_head(cl, &b, "b");
        sb_cl_publish_raw(cl, TAG_OTHER, NULL, 0, &b);
        sb_buf_free(&b);
        argv[0] = "DEL";
        lens[0] = 3;
        argv[1] = key;
        lens[1] = sb_cl_make_key(key, sizeof key, NODE_PREFIX, cl->node, cl->node_len);
        sb_cl_send_argv(cl, TAG_OTHER, 2, argv, lens);
    }
    sb_redis_free(cl->r);
    cl->r = NULL;
    sb_hub_forget_remote(cl->hub);
    sb_cl_pchans_free(cl);
    sb_map_clear(&cl->mine);
    sb_cl_hist_free(cl);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val)) {
        cl_channel *cc = val;
        if (cc->active)
            sb_cl_local_follow(cl, cc->name, cc->len, 0);
        channel_free(cc);
    }
    sb_cl_local_free(cl);
    sb_map_clear(&cl->channels);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        free(val);
    sb_map_clear(&cl->nodes);
    sb_cl_phx_clear(&cl->own_metas);
    uv_timer_stop(&cl->tick);
    uv_close((uv_handle_t *)&cl->tick, on_tick_closed);
}

void sb_cluster_get_stats(const sb_cluster *cl, sb_cluster_stats *st)
{
    sb_map_iter it;
    void *val;

    *st = cl->st;
    st->connected = sb_redis_is_up(cl->r);
    st->synced = st->connected && cl->st.synced;
    st->nodes = 0;
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        st->nodes += !((cl_node *)val)->dead;
    st->channels = cl->channels.count;
    if (cl->sib) {
        sb_siblings_stats sst;
        sb_siblings_get_stats(cl->sib, &sst);
        st->local_lost += sst.dropped;
    }
}

const char *sb_cluster_node(const sb_cluster *cl)
{
    return cl->node;
}

/* The Redis side of shared history (see cluster_history.c): keys, the
 * Lua scripts that number, keep and read messages, and sending them.
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
 * and ttl exactly. */
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

int sb_cl_send_read(sb_cluster *cl, cl_req *req, const char *ch,
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

int sb_cl_send_numbered(sb_cluster *cl, cl_req *req, const sb_msg *m,
                        const char *em, size_t emlen)
{
    char chkey[sizeof CH_PREFIX + SB_CHANNEL_MAX], seqkey[sizeof GEN_KEY + 8];
    script_args a;
    sb_buf head, tail;
    size_t count;
    double ttl;
    int rc = -1;

    rule(cl, m->channel, m->channel_len, &count, &ttl);
    memset(&a, 0, sizeof a);
    sb_buf_init(&head, 0);
    sb_buf_init(&tail, 0);
    sb_cl_wire_head(cl, &head, "n");
    sb_cl_wire_msg_fields(&tail, m, em, emlen);
    if (!head.oom && !tail.oom) {
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
        rc = run_script(cl, req, 0, cl->sha_pub, PUBLISH_SCRIPT,
                        sizeof PUBLISH_SCRIPT - 1, 4, &a);
    }
    sb_buf_free(&head);
    sb_buf_free(&tail);
    return rc;
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


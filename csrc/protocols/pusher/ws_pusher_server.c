/* The Pusher protocol's per-server state: its options (pusher_key,
 * pusher_secret, ... as server.lua flattens pusher = { ... }), the random
 * A of every socket_id, routing `/app/<key>`, and the hub watcher that
 * turns presence into member_added / member_removed. */
#include "ws_pusher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "base/str.h"

/* A positive 31-bit random number for socket_ids.  Pusher's socket_id is
 * "<A>.<B>"; B is the connection's hub id, so A only has to make ids of
 * two server runs differ: /dev/urandom, or the clock and an address mixed
 * when it cannot be read. */
static uint32_t sb_pusher_random_a(const void *salt)
{
    uint64_t x = (uint64_t)sb_now_ms() ^ ((uint64_t)(uintptr_t)salt << 17);
    uint32_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");

    if (f) {
        if (fread(&v, sizeof v, 1, f) != 1)
            v = 0;
        fclose(f);
    }
    if (!v) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        v = (uint32_t)x;
    }
    v &= 0x7fffffffu;
    return v ? v : 1;
}

static int sb_pusher_copy(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = sb_memdup(src, strlen(src));
    return *dst ? 0 : -1;
}

int sb_pusher_server_start(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    const char *key = sb_options_string(o, "pusher_key");
    sb_pusher_server *ps;

    *state = NULL;
    if (!key)
        return 0;   /* no pusher = { ... }: nothing routes here */
    if (!(ps = calloc(1, sizeof *ps)))
        return -1;
    *state = ps;
    if (sb_pusher_copy(&ps->key, key) ||
        sb_pusher_copy(&ps->secret, sb_options_string(o, "pusher_secret")) ||
        sb_pusher_copy(&ps->auth_path, sb_options_string(o, "pusher_auth_path")))
        return -1;
    if (!ps->secret && sb_pusher_copy(&ps->secret, ""))
        return -1;
    ps->client_events = sb_options_off(o, "pusher_client_events", 0) > 0;
    ps->activity_timeout = (int)sb_options_size(o, "pusher_activity_timeout",
                                                SB_DEFAULT_pusher_activity_timeout);
    ps->auth_max_body = (size_t)sb_options_size(o, "pusher_auth_max_body",
                                                SB_DEFAULT_pusher_auth_max_body);
    ps->socket_a = sb_pusher_random_a(ps);
    ps->srv = s;
    ps->hub = sb_server_hub(s);
    if (sb_hub_watch_events(ps->hub, sb_pusher_presence_event, ps)) {
        ps->hub = NULL;
        return -1;
    }
    return 0;
}

/* The listener goes: the hub, which may outlive the server, stops
 * pointing at this state. */
void sb_pusher_server_stop(sb_server *s, void *state)
{
    sb_pusher_server *ps = state;

    (void)s;
    if (ps && ps->hub) {
        sb_hub_unwatch_events(ps->hub, sb_pusher_presence_event, ps);
        ps->hub = NULL;
    }
}

void sb_pusher_server_free(void *state)
{
    sb_pusher_server *ps = state;

    if (!ps)
        return;
    sb_pusher_server_stop(ps->srv, ps);
    free(ps->key);
    free(ps->secret);
    free(ps->auth_path);
    free(ps);
}

/* pusher-js connects to /app/<key>?protocol=7&client=js&...; every key
 * routes here, so that a wrong one hears 4001 instead of a failed
 * upgrade the client would retry for ever. */
int sb_pusher_route(sb_server *s, void *state, const char *path,
                    const char **channel)
{
    (void)s;
    (void)channel;
    return state && strncmp(path, "/app/", 5) == 0 && path[5] &&
           !strchr(path + 5, '/');
}

const sb_pusher_server *sb_pusher_server_of(const sb_wsconn *c)
{
    return sb_server_proto_state(c->srv, &sb_pusher_ops);
}

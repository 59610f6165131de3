/* The Phoenix protocol's per-server state: reading its options
 * (phoenix = { mount, ... }, phoenix_max_channels, phoenix_timeout) when
 * a server starts, and routing `<mount>/websocket` upgrades to it (and
 * `<mount>/longpoll` requests to LongPoll, http_longpoll.c). */
#include "ws_phoenix_server.h"

#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "base/str.h"

void sb_phx_server_free(void *state)
{
    sb_phx_server *ps = state;

    if (!ps)
        return;
    while (ps->n > 0)
        free(ps->mounts[--ps->n]);
    free(ps->mounts);
    free(ps);
}

/* Keeps one mount point. */
static int sb_phx_add_mount(sb_phx_server *ps, const char *m)
{
    size_t len = strlen(m);

    while (len > 0 && m[len - 1] == '/')
        len--;
    if (!(ps->mounts[ps->n] = sb_memdup(m, len)))
        return -1;
    ps->n++;
    return 0;
}

/* Reads phoenix = { mount, ... } (default { "/socket" }, {} = none),
 * phoenix_max_channels and phoenix_timeout. */
int sb_phx_server_start(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    int i, n = sb_options_count(o, "phoenix");
    sb_phx_server *ps = calloc(1, sizeof *ps);

    *state = ps;
    if (!ps || !(ps->mounts = calloc(n > 0 ? (size_t)n : 1, sizeof *ps->mounts)))
        return -1;
    ps->max_channels = (int)sb_options_size(o, "phoenix_max_channels",
                                            SB_DEFAULT_max_channels);
    ps->timeout = (int)sb_options_off(o, "phoenix_timeout", SB_DEFAULT_phoenix_timeout);
    if (n < 0)
        return sb_phx_add_mount(ps, "/socket");
    for (i = 0; i < n; i++) {
        const char *m = sb_options_item(o, "phoenix", i);
        if (!m)
            break;
        if (sb_phx_add_mount(ps, m))
            return -1;
    }
    return 0;
}

int sb_phx_mounted(const sb_phx_server *ps, const char *path, const char *transport)
{
    size_t n = strlen(path), k = strlen(transport);
    int i;

    for (i = 0; ps && i < ps->n; i++) {
        size_t m = strlen(ps->mounts[i]);
        if (n == m + 1 + k && strncmp(path, ps->mounts[i], m) == 0 &&
            path[m] == '/' && strcmp(path + m + 1, transport) == 0)
            return 1;
    }
    return 0;
}

/* Phoenix clients always append /websocket to the mount point. */
int sb_phx_route(sb_server *s, void *state, const char *path,
                 const char **channel)
{
    (void)s;
    (void)channel;
    return sb_phx_mounted(state, path, "websocket");
}

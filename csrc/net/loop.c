#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/defaults.h"

/* The step timer only has to wake uv_run(UV_RUN_ONCE) up; the wake-up is the
 * whole point, so its callback does nothing. */
static void sb_loop_step_wake(uv_timer_t *t)
{
    (void)t;
}

/* The end of a turn: runs the hooks armed so far.  Hooks armed while these
 * run wait for the next turn, so a hook that re-arms cannot spin here. */
static void sb_loop_run_hooks(sb_loop *l)
{
    sb_turn_hook *run = l->turn_hooks, *next;

    l->turn_hooks = NULL;
    for (; run; run = next) {
        next = run->next;
        run->next = NULL;
        run->armed = 0;
        run->fn(run);
    }
}

static void sb_loop_turn_end(uv_check_t *h)
{
    sb_loop *l = h->data;

    uv_idle_stop(&l->turn_idle);
    uv_check_stop(&l->turn_check);
    sb_loop_run_hooks(l);
}

/* Takes h out of the list at *p (if it is there). */
static void sb_hook_unlink(sb_turn_hook **p, sb_turn_hook *h)
{
    for (; *p; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            break;
        }
    }
    h->next = NULL;
}

/* Only makes the poll phase return at once while hooks are armed. */
static void sb_loop_turn_idle(uv_idle_t *h)
{
    (void)h;
}

void sb_loop_at_turn_end(sb_loop *l, sb_turn_hook *h)
{
    if (h->armed)
        return;
    h->armed = 1;
    h->next = l->turn_hooks;
    l->turn_hooks = h;
    uv_check_start(&l->turn_check, sb_loop_turn_end);
    uv_idle_start(&l->turn_idle, sb_loop_turn_idle);
}

void sb_loop_at_teardown(sb_loop *l, sb_turn_hook *h)
{
    h->next = l->teardown;
    l->teardown = h;
}

void sb_loop_at_exit(sb_loop *l, sb_turn_hook *h)
{
    h->next = l->at_exit;
    l->at_exit = h;
}

void sb_loop_exit_cancel(sb_loop *l, sb_turn_hook *h)
{
    sb_hook_unlink(&l->at_exit, h);
}

void sb_loop_teardown_cancel(sb_loop *l, sb_turn_hook *h)
{
    sb_hook_unlink(&l->teardown, h);
}

void sb_loop_turn_hook_cancel(sb_loop *l, sb_turn_hook *h)
{
    sb_hook_unlink(&l->turn_hooks, h);
    h->armed = 0;
}

sb_loop *sb_loop_new(void)
{
    sb_loop *l = calloc(1, sizeof *l);

    if (!l)
        return NULL;
    if (uv_loop_init(&l->uv)) {
        free(l);
        return NULL;
    }
    uv_timer_init(&l->uv, &l->step_timer);
    uv_unref((uv_handle_t *)&l->step_timer);
    /* neither keeps the loop alive: they only serve work already there */
    uv_check_init(&l->uv, &l->turn_check);
    uv_idle_init(&l->uv, &l->turn_idle);
    l->turn_check.data = l;
    l->log_mask = LLL_ERR;
    uv_unref((uv_handle_t *)&l->turn_check);
    uv_unref((uv_handle_t *)&l->turn_idle);
    return l;
}

/* The only process-wide mutable state in switchboard, and thread-local:
 * lws 4.1 has one log emitter for the whole process (lws_set_log_level),
 * whose lines carry no wsi or context, so the adapter below can only ask
 * "which loop is working on this thread right now?". */
static __thread sb_loop *sb_log_owner;

sb_loop *sb_log_enter(sb_loop *l)
{
    sb_loop *prev = sb_log_owner;

    sb_log_owner = l;
    return prev;
}

void sb_log_leave(sb_loop *prev)
{
    sb_log_owner = prev;
}

/* lws error lines that are not the server's errors: 1 for what a peer
 * causes at will (shown as warnings), 2 for lws's own chatter (info). */
static int sb_log_expected(const char *line)
{
    static const char *const peer_made[] = {
        "Ran out of header data space", "lws_client_handshake: got bad HTTP response",
        "ERROR on binding fd", "lws_ssl_capable", "SSL error", "SSL_read" };
    /* lws 4.1.6 logs its own progress as errors: adopting a socket with
     * the bytes of its head already read (the own transport, tcp.h,
     * hands every plain HTTP request over that way) */
    static const char *const chatter[] = {
        "adopt_socket_readbuf: calling service", "deferring handling ah" };
    size_t i;

    for (i = 0; i < sizeof peer_made / sizeof peer_made[0]; i++)
        if (strstr(line, peer_made[i]))
            return 1;
    for (i = 0; i < sizeof chatter / sizeof chatter[0]; i++)
        if (strstr(line, chatter[i]))
            return 2;
    return 0;
}

/* The adapter lws calls for every line it logs (see sb_log_owner). */
static void sb_loop_log(int level, const char *line)
{
    sb_loop *l = sb_log_owner;
    int mask = l ? l->log_mask : LLL_ERR;

    if (level == LLL_ERR) {
        int kind = sb_log_expected(line);
        if (kind)
            level = kind == 1 ? LLL_WARN : LLL_INFO;
    }
    if (!(level & mask))
        return;
    if (l && l->log_emit && !l->in_log) {
        l->in_log = 1;
        l->log_emit(l->log_ud, level, line);
        l->in_log = 0;
        return;
    }
    fprintf(stderr, "switchboard: lws: %s", line);
}

/* lws formats a line only when its level is visible, so the process-wide
 * mask is what some loop asked for (never less than errors and warnings,
 * which the adapter filters per loop); lwsl_visible reads it back, so it
 * only ever widens. */
static void sb_log_install(int mask)
{
    static const int bits[] = { LLL_NOTICE, LLL_INFO, LLL_DEBUG };
    size_t i;

    mask |= LLL_ERR | LLL_WARN;
    for (i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (lwsl_visible(bits[i]))
            mask |= bits[i];
    lws_set_log_level(mask, sb_loop_log);
}

void sb_loop_set_log(sb_loop *l, int mask, void (*emit)(void *ud, int level, const char *line),
                     void *ud)
{
    l->log_mask = mask;
    l->log_emit = emit;
    l->log_ud = ud;
    sb_log_install(mask);
}

struct lws_context *sb_loop_new_lws(sb_loop *l, int server, int timeout_secs,
                                   int max_header)
{
    struct lws_context_creation_info info;
    void *loops[1];

    if (l->closing)
        return NULL;
    memset(&info, 0, sizeof info);
    loops[0] = &l->uv;
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    /* No LWS_SERVER_OPTION_VALIDATE_UTF8: the receive path checks a text
     * message's UTF-8 itself (receive.c), because lws 4.1.6, validating,
     * also checks a close frame's reason and then hangs up without the
     * 1002 close frame RFC 6455 asks for, before any callback of ours */
    (void)server;
    info.user = l;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.gid = -1;
    info.uid = -1;
    info.count_threads = 1;
    /* lws 4.1 reads timeout_secs only here, on the context: a vhost's
     * own timeout_secs is ignored */
    info.timeout_secs = timeout_secs > 0 ? (unsigned)timeout_secs : SB_DEFAULT_handshake_timeout;
    info.max_http_header_data2 = max_header > 0 ? (unsigned)max_header : 0;
    sb_log_install(0);
    {
        sb_loop *prev = sb_log_enter(l);
        struct lws_context *ctx = lws_create_context(&info);
        sb_log_leave(prev);
        return ctx;
    }
}

struct lws_context *sb_loop_lws(sb_loop *l)
{
    if (!l->lws)
        l->lws = sb_loop_new_lws(l, 0, 0, 0);
    return l->lws;
}

/* lws 4.1.6 on libuv closes a context's event pipe (an eventfd) twice:
 * lws_context_destroy closes it at once (lws_plat_pipe_close), and the
 * close callback of its uv_poll handle closes the same number again on a
 * later loop turn -- by then perhaps a new server's listening socket or a
 * fresh connection (seen: a server made right after another one closed
 * lost its listener, and accept() failed with EINVAL).  So a destroy
 * first notes the poll handles and their fds; afterwards each one that is
 * closing with its fd already gone gets a placeholder (/dev/null) on that
 * number, and the late close takes the placeholder. */
typedef struct sb_poll_fds {
    uv_handle_t **h;
    int *fd;
    size_t n, cap;
} sb_poll_fds;

static void sb_note_poll(uv_handle_t *h, void *arg)
{
    sb_poll_fds *p = arg;
    uv_os_fd_t fd;

    if (h->type != UV_POLL || uv_is_closing(h) || uv_fileno(h, &fd))
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        uv_handle_t **nh = realloc(p->h, cap * sizeof *nh);
        int *nfd = nh ? realloc(p->fd, cap * sizeof *nfd) : NULL;
        if (nh)
            p->h = nh;
        if (!nfd)
            return;   /* out of memory: this one goes unguarded */
        p->fd = nfd;
        p->cap = cap;
    }
    p->h[p->n] = h;
    p->fd[p->n++] = fd;
}

/* Occupies a closed fd number with /dev/null (close-on-exec). */
static void sb_plug_fd(int fd)
{
    int ph;

    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
        return;
    ph = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ph < 0 || ph == fd)
        return;
    dup3(ph, fd, O_CLOEXEC);
    close(ph);
}

static void sb_loop_destroy_now(sb_loop *l, struct lws_context *ctx)
{
    sb_poll_fds p;
    size_t i;

    memset(&p, 0, sizeof p);
    uv_walk(&l->uv, sb_note_poll, &p);
    {
        sb_loop *prev = sb_log_enter(l);
        lws_context_destroy(ctx);
        sb_log_leave(prev);
    }
    /* the handles are freed only in their close callbacks, still to come */
    for (i = 0; i < p.n; i++)
        if (uv_is_closing(p.h[i]))
            sb_plug_fd(p.fd[i]);
    free(p.h);
    free(p.fd);
}

void sb_loop_destroy_lws(sb_loop *l, struct lws_context *ctx)
{
    if (l->ndoomed < (int)(sizeof l->doomed / sizeof l->doomed[0])) {
        l->doomed[l->ndoomed++] = ctx;
        return;
    }
    sb_loop_destroy_now(l, ctx);   /* full: better now than leaked */
}

/* Runs the destructions sb_loop_destroy_lws put off; called only between
 * loop turns, never from inside an lws callback. */
static void sb_loop_reap(sb_loop *l)
{
    while (l->ndoomed > 0)
        sb_loop_destroy_now(l, l->doomed[--l->ndoomed]);
}

/* Runs every hook of a once-only list, taking each off before it runs
 * (a hook may cancel others of the same list). */
static void sb_loop_run_list(sb_turn_hook **list)
{
    while (*list) {
        sb_turn_hook *h = *list;
        *list = h->next;
        h->next = NULL;
        h->fn(h);
    }
}

void sb_loop_free(sb_loop *l)
{
    int spins, closed;

    if (!l)
        return;
    sb_loop_reap(l);
    l->closing = 1;
    sb_loop_run_list(&l->teardown);
    if (l->lws) {
        sb_loop_destroy_now(l, l->lws);
        l->lws = NULL;
    }
    uv_close((uv_handle_t *)&l->step_timer, NULL);
    uv_close((uv_handle_t *)&l->turn_check, NULL);
    uv_close((uv_handle_t *)&l->turn_idle, NULL);
    l->turn_hooks = NULL;
    /* lws finishes tearing down from close callbacks; bounded so a stuck
     * handle cannot hang the host at exit. */
    /* the check handle is closed: end-of-turn work armed by these last
     * turns (a socket released by a close callback) runs here */
    for (spins = 0; spins < 1000 && uv_run(&l->uv, UV_RUN_NOWAIT); spins++)
        sb_loop_run_hooks(l);
    closed = uv_loop_close(&l->uv) == 0;
    /* the loop never turns again either way: nothing calls back now */
    sb_loop_run_list(&l->at_exit);
    if (closed)
        free(l);
    /* else: some handle is still open (lws 4.1 never finishes destroying
     * a context on a foreign loop); leaking the loop is safer than
     * freeing memory libuv still points at. */
}

int sb_loop_step(sb_loop *l, double timeout)
{
    sb_loop *prev = sb_log_enter(l);
    int alive;

    if (timeout == 0) {
        alive = uv_run(&l->uv, UV_RUN_NOWAIT);
        sb_loop_reap(l);
        sb_log_leave(prev);
        return alive;
    }
    if (timeout > 0) {
        uint64_t ms = (uint64_t)(timeout * 1000.0 + 0.999);
        /* timers count from the loop's cached time, which is stale after
         * the host ran Lua between steps: without this the wake-up is
         * already due when uv_run starts, fires before the poll, and the
         * poll then blocks until some unrelated timer (lws: ~30 s) */
        uv_update_time(&l->uv);
        uv_ref((uv_handle_t *)&l->step_timer);
        uv_timer_start(&l->step_timer, sb_loop_step_wake, ms, 0);
    }
    alive = uv_run(&l->uv, UV_RUN_ONCE);
    sb_loop_reap(l);
    uv_timer_stop(&l->step_timer);
    uv_unref((uv_handle_t *)&l->step_timer);
    sb_log_leave(prev);
    return alive;
}

int sb_loop_fd(sb_loop *l)
{
    return uv_backend_fd(&l->uv);
}

double sb_loop_timeout(sb_loop *l)
{
    int ms;

    uv_update_time(&l->uv);
    ms = uv_backend_timeout(&l->uv);
    return ms < 0 ? -1.0 : ms / 1000.0;
}

int64_t sb_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t sb_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sb_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

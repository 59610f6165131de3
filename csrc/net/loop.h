/* The event loop: one libuv loop per switchboard instance, with one
 * libwebsockets context running on it as a foreign loop.  Servers, clients
 * and timers all live on it, so one process can be a server, a client or
 * both, and other loops can drive it through its backend fd (pollfd). */
#ifndef SB_LOOP_H
#define SB_LOOP_H

#include <uv.h>
#include <libwebsockets.h>

/* Work to run once at the end of the current loop turn (after the I/O
 * callbacks), armed at most once per turn; see sb_loop_at_turn_end. */
typedef struct sb_turn_hook {
    void (*fn)(struct sb_turn_hook *h);
    struct sb_turn_hook *next;
    int armed;
} sb_turn_hook;

typedef struct sb_loop {
    uv_loop_t uv;
    struct lws_context *lws;   /* created on first use, see sb_loop_lws */
    uv_timer_t step_timer;     /* bounds one step() */
    int stop;                  /* set by stop(), cleared by run() */
    int users;                 /* servers, clients and timers alive */
    int closing;
    void *host;                /* lua_State running the current step */
    struct lws_vhost *client_vh; /* non-listening vhost for clients */
    struct lws_context *doomed[16]; /* destroyed after the current turn */
    int ndoomed;
    uv_check_t turn_check;     /* runs the turn hooks after I/O */
    uv_idle_t turn_idle;       /* keeps the poll from blocking while armed */
    sb_turn_hook *turn_hooks;  /* armed, newest first */
    sb_turn_hook *teardown;    /* run once when the loop is freed */
    sb_turn_hook *at_exit;     /* ... and these once its handles are closed */
    struct sb_workers *workers; /* forked workers (workers.h), parent only */
    struct sb_siblings *siblings; /* the path to sibling workers (siblings.h),
                                     every worker; owned by its hooks */
    /* where lws's log lines go (see sb_loop_set_log): the LLL_* bits to
     * pass on, and a sink (NULL: stderr, prefixed "switchboard: lws: ") */
    int log_mask;
    void (*log_emit)(void *ud, int level, const char *line);
    void *log_ud;
    int in_log;
} sb_loop;

/* lws 4.1's logger is process-global and its lines name no context, so
 * one adapter routes every line to the loop at work on this thread: the
 * one inside sb_loop_step, or the one a synchronous call into lws entered
 * with sb_log_enter.  Lines with no such loop go to stderr, errors only.
 * Returns the previous owner, for sb_log_leave. */
sb_loop *sb_log_enter(sb_loop *l);
void sb_log_leave(sb_loop *prev);
/* Sets what the loop passes on: mask of LLL_ERR, LLL_WARN, LLL_NOTICE,
 * LLL_INFO, LLL_DEBUG (0 = nothing), and emit (NULL = stderr).  Lines lws
 * writes at LLL_ERR for what a peer can cause at will (an oversize
 * request head) count as warnings. */
void sb_loop_set_log(sb_loop *l, int mask, void (*emit)(void *ud, int level, const char *line),
                     void *ud);

/* Returns NULL when libuv could not set up a loop. */
sb_loop *sb_loop_new(void);
/* Destroys the lws context, lets every handle close, frees the loop. */
void sb_loop_free(sb_loop *l);
/* The lws context clients share, created on first use.  Returns NULL
 * when lws refused to start. */
struct lws_context *sb_loop_lws(sb_loop *l);
/* A new lws context on the loop (vhosts added explicitly).  Each server
 * gets its own: destroying a context is the only way lws 4.1 lets go of a
 * listening socket at once (a destroyed vhost keeps it bound, and a new
 * vhost on that port would silently share it).  `server` turns on what a
 * server's context needs (UTF-8 validation of incoming text frames).
 * timeout_secs bounds each step of a connection's setup (TCP accept to
 * first bytes, TLS handshake, each part of a request body); max_header is
 * the byte size of a request head lws keeps (request line and headers).
 * 0 = the handshake_timeout default (base/defaults.h) / lws's own size. */
struct lws_context *sb_loop_new_lws(sb_loop *l, int server, int timeout_secs,
                                   int max_header);
/* Destroys ctx once the current loop turn is over: a server's last
 * connection is freed from inside an lws callback of that very context,
 * and destroying a context from within its own callbacks is not safe. */
void sb_loop_destroy_lws(sb_loop *l, struct lws_context *ctx);

/* Runs h->fn once at the end of this loop turn (or of the next one, when
 * called between turns: the poll then does not block).  Arming an armed
 * hook does nothing, so callers may arm on every event.  The fan-out uses
 * it to write each connection's frames of a whole turn in one send. */
void sb_loop_at_turn_end(sb_loop *l, sb_turn_hook *h);
/* h->fn runs when the loop is freed (before its last turns), unless
 * cancelled: what owns sockets of its own ends them there. */
void sb_loop_at_teardown(sb_loop *l, sb_turn_hook *h);
void sb_loop_teardown_cancel(sb_loop *l, sb_turn_hook *h);
/* h->fn runs when the loop is freed, after its last turns (nothing of
 * libuv or lws calls back any more: the loop never turns again), unless
 * cancelled.  What only the loop's end lets go of (a server's lws vhost,
 * which lws 4.1 never reports gone on a foreign loop) is released there;
 * a handle may still be open, so memory a handle points at must stay. */
void sb_loop_at_exit(sb_loop *l, sb_turn_hook *h);
void sb_loop_exit_cancel(sb_loop *l, sb_turn_hook *h);
/* Disarms h (its owner is going away). */
void sb_loop_turn_hook_cancel(sb_loop *l, sb_turn_hook *h);

/* One turn: waits at most timeout seconds (0 = poll, < 0 = until an event)
 * for events and runs their callbacks.  Returns nonzero if anything is still
 * alive on the loop. */
int sb_loop_step(sb_loop *l, double timeout);
int sb_loop_fd(sb_loop *l);
/* Seconds until the loop needs a step (0 = now, -1 = no deadline). */
double sb_loop_timeout(sb_loop *l);
/* Wall clock in epoch milliseconds, as messages carry it. */
int64_t sb_now_ms(void);
/* Milliseconds on a clock that never steps (CLOCK_MONOTONIC), for
 * intervals and deadlines: the wall clock may jump when it is set. */
int64_t sb_mono_ms(void);
/* The monotonic clock in microseconds (turn budgets). */
int64_t sb_mono_us(void);

#endif

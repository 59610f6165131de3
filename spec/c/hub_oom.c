/* Allocation-failure test of the C hub: every operation is run with the
 * k-th allocation failing, for every k until it succeeds, and must either
 * succeed or return SB_ENOMEM with the hub state unchanged.  Run under
 * valgrind by scripts/hub-oom.sh to also catch leaks.  Links with
 * -Wl,--wrap=malloc,--wrap=calloc so only the hub's allocations fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "hub/hub.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);

static long fail_at = -1, allocs;

/* Fails the fail_at-th allocation since arming; -1 disarms. */
static int should_fail(void)
{
    return fail_at >= 0 && allocs++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}

static void add_member(const char *m, size_t n, void *ud)
{
    sb_buf_add(ud, m, n);
    sb_buf_addc(ud, ',');
}

static void add_conn(sb_conn *c, const char *m, size_t n, void *ud)
{
    sb_buf_add_u64(ud, c->id);
    sb_buf_addc(ud, '=');
    sb_buf_add(ud, m, n);
    sb_buf_addc(ud, ',');
}

static const char *NAMES[] = {"a", "b", "c", "new"};

/* A text snapshot of everything observable, sorted-insensitive enough
 * because iteration order only changes when the state does. */
static char *snapshot(sb_hub *h)
{
    sb_buf b;
    size_t i;
    uint64_t e, o;
    char *s;

    sb_buf_init(&b, 0);
    for (i = 0; i < 4; i++) {
        sb_buf_adds(&b, NAMES[i]);
        sb_buf_addc(&b, ':');
        sb_hub_position(h, NAMES[i], strlen(NAMES[i]), &e, &o);
        sb_buf_add_u64(&b, e);
        sb_buf_addc(&b, '/');
        sb_buf_add_u64(&b, o);
        sb_buf_addc(&b, ' ');
        sb_hub_each_member(h, NAMES[i], strlen(NAMES[i]), add_member, &b);
        sb_hub_each_connection(h, NAMES[i], strlen(NAMES[i]), add_conn, &b);
        sb_hub_each_typing(h, NAMES[i], strlen(NAMES[i]), add_member, &b);
        sb_buf_addc(&b, '\n');
    }
    s = strdup(b.len ? (char *)sb_buf_data(&b) : "");
    if (s)
        s[b.len] = '\0';
    sb_buf_free(&b);
    return s;
}

static int delivered;

static void deliver(sb_conn *c, sb_msg *m, void *ud)
{
    (void)c;
    (void)m;
    (void)ud;
    delivered++;
}

static sb_conn conns[4];

static sb_hub *setup(size_t history)
{
    sb_hub_config cfg;
    sb_hub *h;
    int i;

    memset(&cfg, 0, sizeof cfg);
    cfg.history = history;
    h = sb_hub_new(&cfg);
    for (i = 0; i < 4; i++)
        sb_hub_attach(h, &conns[i], deliver, NULL);
    sb_hub_join(h, "a", 1, "alice", 5, &conns[0]);
    sb_hub_join(h, "a", 1, "bob", 3, &conns[1]);
    sb_hub_join(h, "b", 1, "alice", 5, &conns[2]);
    return h;
}

static int replay_count;

static void on_replay(sb_msg *m, void *ud)
{
    (void)m;
    (void)ud;
    replay_count++;
}

/* One operation under test; returns its result code. */
static int op(sb_hub *h, int which)
{
    sb_msg *m;
    int rc;

    switch (which) {
    case 0: return sb_hub_join(h, "new", 3, "carol", 5, &conns[3]);
    case 1: return sb_hub_join(h, "a", 1, "carol", 5, &conns[3]);
    case 2: return sb_hub_join(h, "a", 1, "alice", 5, &conns[3]);
    case 3:
    case 4:
        m = sb_msg_new(which == 3 ? "a" : "new", which == 3 ? 1 : 3, "ev", 2,
                       "{}", 2, "u", 1, NULL, 0, 0);
        if (!m)
            return SB_ENOMEM;
        rc = sb_hub_publish(h, m, NULL, "bob", 3);
        sb_msg_unref(m);
        return rc;
    case 5: {
        uint64_t e, o;
        sb_hub_position(h, "a", 1, &e, &o);
        return sb_hub_replay(h, "a", 1, e, 0, on_replay, NULL);
    }
    default: return sb_hub_set_typing(h, "a", 1, "alice", 5, 1);
    }
}

int main(void)
{
    int which, failures = 0;
    size_t history;
    long k;

    for (history = 0; history <= 4; history += 4) {
        for (which = 0; which < 7; which++) {
            for (k = 0;; k++) {
                sb_hub *h = setup(history);
                char *before, *after;
                int rc;

                if (which == 5) {
                    op(h, 3);
                    op(h, 3);
                }
                before = snapshot(h);
                allocs = 0;
                fail_at = k;
                rc = op(h, which);
                fail_at = -1;
                after = snapshot(h);
                if (rc == SB_ENOMEM && strcmp(before, after) != 0) {
                    fprintf(stderr, "op %d history %zu fail %ld: state changed\n"
                            "before:\n%safter:\n%s", which, history, k, before,
                            after);
                    failures++;
                }
                free(before);
                free(after);
                sb_hub_free(h);
                if (rc != SB_ENOMEM)
                    break;
            }
            printf("op %d history %zu: %ld failing allocations survived\n",
                   which, history, k);
        }
    }
    return failures != 0;
}

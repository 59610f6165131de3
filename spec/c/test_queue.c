/* The send queue (net/queue.c): FIFO order and byte counts across the
 * frame held in place, the first ring and its growth, and what a packed
 * write takes; every reference is dropped (ASan's leak check). */
#include "check.h"
#include "net/queue.h"

static sb_frame *frame(const char *s)
{
    return sb_frame_new(s, strlen(s), 0);
}

/* Pushes n frames "0".."n-1" (each queue holds the only reference). */
static void push_n(check_ctx *t, sb_fqueue *q, int n)
{
    char s[16];
    int i;

    for (i = 0; i < n; i++) {
        sb_frame *f;
        snprintf(s, sizeof s, "%d", i);
        f = frame(s);
        CHECK_INT(sb_fqueue_push(q, f), 0);
        sb_frame_unref(f);
    }
}

/* One frame at a time never needs the ring. */
static void test_one_in_place(check_ctx *t)
{
    sb_fqueue q;
    int i;

    memset(&q, 0, sizeof q);
    for (i = 0; i < 3; i++) {
        push_n(t, &q, 1);
        CHECK_INT((int)q.len, 1);
        CHECK_INT((int)q.bytes, 1);
        CHECK_INT((int)q.cap, 0);
        CHECK_INT(sb_fqueue_peek(&q)->data[0], '0');
        sb_fqueue_pop(&q);
        CHECK_INT((int)q.len, 0);
        CHECK_INT(sb_fqueue_peek(&q) == NULL, 1);
    }
    sb_fqueue_free(&q);
}

/* The second frame moves the first into a ring; order holds through
 * growth and wrap-around. */
static void test_ring_order(check_ctx *t)
{
    sb_fqueue q;
    char want[16];
    int i;

    memset(&q, 0, sizeof q);
    push_n(t, &q, 2);
    CHECK_INT((int)q.cap, 8);
    sb_fqueue_pop(&q);
    push_n(t, &q, 20);          /* "0".."19" after "1": wraps, then grows */
    CHECK_INT((int)q.len, 21);
    CHECK_INT(sb_fqueue_peek(&q)->data[0], '1');
    sb_fqueue_pop(&q);
    for (i = 0; i < 20; i++) {
        snprintf(want, sizeof want, "%d", i);
        check_mem_at(t, sb_fqueue_peek(&q)->data, sb_fqueue_peek(&q)->len, want,
                     strlen(want), "frame i", __FILE__, __LINE__);
        sb_fqueue_pop(&q);
    }
    CHECK_INT((int)q.len, 0);
    CHECK_INT((int)q.bytes, 0);
    push_n(t, &q, 3);
    sb_fqueue_free(&q);         /* drops what is still queued */
    CHECK_INT((int)q.cap, 0);
}

/* A packed write takes the frames in order, from the frame in place too. */
static void test_pack(check_ctx *t)
{
    sb_fqueue q;
    sb_batch b;
    size_t used;

    memset(&q, 0, sizeof q);
    memset(&b, 0, sizeof b);
    push_n(t, &q, 1);
    CHECK_INT((int)sb_fqueue_pack(&q, &b, 0, &used), 1);
    CHECK_MEM(b.mem + LWS_PRE, used, "0");
    push_n(t, &q, 3);
    CHECK_INT((int)sb_fqueue_pack(&q, &b, 0, &used), 4);
    CHECK_MEM(b.mem + LWS_PRE, used, "0012");
    CHECK_INT((int)sb_fqueue_pack(&q, &b, 1, &used), 4);
    CHECK_INT((int)used, 4 * 3);   /* 2-byte headers */
    sb_fqueue_free(&q);
    sb_batch_free(&b);
}

int main(void)
{
    check_ctx t = { "test_queue", 0, 0 };

    test_one_in_place(&t);
    test_ring_order(&t);
    test_pack(&t);
    return check_report(&t);
}

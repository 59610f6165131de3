/* The own WebSocket transport of a plain (not TLS) listener: the
 * listener's sockets are read here first.  A WebSocket upgrade is served
 * by this transport to the end -- handshake, frames (wsparse.h), writes,
 * the close handshake -- on a libuv poll handle, with no lws object.
 * Anything else (plain HTTP, SSE, long-poll) goes to lws together with
 * the bytes already read.  Why not lws for WebSockets: lws 4.1.6 accepts
 * unmasked client frames (RFC 6455 5.1 says fail them), keeps 1.6 KiB
 * per idle connection, reads 512 bytes per socket per turn and keeps its
 * timeouts in a list whose every insert walks it.
 *
 * tcp_accept.c reads the request head and upgrades; tcp.c is the open
 * connection. */
#ifndef SB_NET_TCP_H
#define SB_NET_TCP_H

#include <stddef.h>

#include <uv.h>

#include "base/buf.h"
#include "expiry.h"
#include "loop.h"
#include "types.h"
#include "wsparse.h"

/* The read buffer every own-transport socket shares (read and parsed at
 * once, so one per server is enough). */
#define SB_TCP_RX (64 * 1024)

enum {
    SB_TCP_HEAD = 0,   /* reading the request head */
    SB_TCP_OPEN,       /* an open WebSocket */
    SB_TCP_CLOSING,    /* our close frame is out: waiting for the peer's */
    SB_TCP_LINGER,     /* an HTTP refusal is out: drain, then hang up */
    SB_TCP_DEAD        /* uv_close is under way */
};

typedef struct sb_tcp_head sb_tcp_head;

/* What an end-of-turn write reads (fd to out_off, state, pmd) follows
 * the poll handle together, in two cache lines rather than three: the
 * flush touches thousands of sockets a turn, each a cache miss. */
typedef struct sb_tcp {
    uv_poll_t poll;
    int fd;
    int events;            /* what poll watches now */
    sb_server *srv;
    sb_wsconn *c;          /* NULL while the head is read */
    sb_buf out;            /* bytes the socket did not take yet */
    size_t out_off;        /* of them, written already */
    unsigned char state;
    unsigned char pmd;         /* permessage-deflate was negotiated */
    unsigned char discard;     /* reading only to drain: parse nothing */
    unsigned char end_drained; /* hang up once out is written */
    unsigned char held;        /* an upgrade waiting for admission */
    sb_wsparse rx;
    sb_expiry dl;        /* handshake, heartbeat or close-wait */
    sb_tcp_head *head;     /* the handshake's state, freed after it */
    struct sb_tcp *prev, *next;    /* the server's own-transport sockets */
    struct sb_tcp *reap_next;      /* killed, waiting for the reaper; or
                                    * held, waiting for admission */
} sb_tcp;

/* The socket whose deadline d is. */
static inline sb_tcp *sb_tcp_of_expiry(sb_expiry *d)
{
    return (sb_tcp *)(void *)((char *)d - offsetof(sb_tcp, dl));
}

/* A deadline of the socket passed: it is cut (sb_tcp_kill). */
void sb_tcp_expired(sb_expiry *d);

/* A socket the listener accepted (non-blocking).  It is closed when
 * memory runs out. */
void sb_tcp_accept(sb_server *s, int fd);
/* Kills every socket without a connection: reading its head, or
 * lingering after a refusal (the server is closing). */
void sb_tcp_drop_heads(sb_server *s);

/* Writes n bytes in order after anything buffered; what the socket does
 * not take now is kept and written when it can.  -1: the socket is dead
 * (the connection is being killed). */
int sb_tcp_send(sb_tcp *t, const void *p, size_t n);
/* 1 while bytes wait for the socket (do not add frames behind them). */
int sb_tcp_choked(const sb_tcp *t);
/* Writes c's queue (and a due ping, and the close frame once the queue is
 * empty and c->close_code is set).  0, or -1 on a dead socket. */
int sb_tcp_flush(sb_tcp *t);
/* A protocol error or a policy close: the queue is dropped, a close
 * frame with code and why goes out at once, and whatever the peer still
 * sends is read and dropped until it hangs up (so that it reads the close
 * frame rather than a reset), a few seconds at most. */
void sb_tcp_fail(sb_tcp *t, int code, const char *why);
/* Cuts the socket now, no close frame.  The connection goes at the end
 * of the loop turn (never under the caller, who may be in the middle of
 * a fan-out), killed sockets in the order they were killed: the app's
 * close hook and the leave events follow that order. */
void sb_tcp_kill(sb_tcp *t);
/* Kills the socket secs seconds from now unless set again (Phoenix's
 * heartbeat timeout); secs <= 0 cancels. */
void sb_tcp_expire_in(sb_tcp *t, int secs);

/* tcp.c for tcp_accept.c: the socket's poll handler after the head. */
void sb_tcp_start_open(sb_tcp *t);
void sb_tcp_watch(sb_tcp *t, int events);
void sb_tcp_on_poll(uv_poll_t *h, int status, int events);
/* The server's turn hook for killed sockets (server.c arms nothing: it
 * only cancels the hook when it goes). */
void sb_tcp_reap(sb_turn_hook *h);
/* The loop is being freed (loop.h's teardown): every socket of the
 * server is cut and released now, not at the end of a turn to come. */
void sb_tcp_teardown(sb_turn_hook *h);
/* The poll handle's close callback: releases the connection and t. */
void sb_tcp_closed(uv_handle_t *h);
/* tcp_accept.c for tcp.c: the head's read, its state's release (which
 * also takes a held upgrade off the admission queue), and admission of
 * held upgrades, oldest first, until the monotonic time `until` (us). */
void sb_tcp_head_ready(sb_tcp *t);
void sb_tcp_head_free(sb_tcp *t);
void sb_tcp_admit_held(sb_server *s, int64_t until);
/* tcp.c: us of the turn's budget were spent (0: only arms the turn's end,
 * which resets the budget and admits held upgrades). */
void sb_tcp_turn_spent(sb_server *s, int64_t us);
/* Time per loop turn for the sockets' events (reads, handshakes, hang-
 * ups): past it, an event waits for the next turn (the poll is level-
 * triggered: it reports the socket again). */
#define SB_TCP_IO_TURN_US 4000
/* Time per loop turn for releasing killed sockets; the rest go next turn. */
#define SB_TCP_REAP_TURN_US 4000
/* Feeds bytes read to the frame parser (tcp.c). */
void sb_tcp_feed(sb_tcp *t, unsigned char *data, size_t n);

#endif

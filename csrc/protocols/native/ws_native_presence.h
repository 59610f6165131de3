/* Join and leave events of the native protocol, coalesced per loop turn
 * so that a join/leave storm stays linear (ws_native_presence.c).  One
 * state per server; ws_native.c queues every event that others hear (a
 * local or a remote connection joining or leaving) and numbers every
 * joiner from the same sequence, so that a connection gets exactly the
 * events that followed its own join. */
#ifndef SB_WS_NATIVE_PRESENCE_H
#define SB_WS_NATIVE_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "net/server.h"

/* Events one connection gets per channel per turn at most: beyond, the
 * first BUDGET - 1 and the last (the exact count).  In a big channel the
 * budget shrinks so that one turn sends at most about
 * SB_NATIVE_PRESENCE_FRAMES frames to the channel, down to the last
 * event alone: the turn stays short (other work, /metrics, goes on) and
 * a storm costs fewer frames the bigger the channel. */
#define SB_NATIVE_PRESENCE_BUDGET 16
#define SB_NATIVE_PRESENCE_FRAMES 16384
/* Pacing of big channels: from this many connections on, a channel's
 * events wait conns / PACE_DIV ms (16 ms at 1,024, 312 ms at 20,000) and
 * go out together. */
#define SB_NATIVE_PRESENCE_PACE_MIN 1024
#define SB_NATIVE_PRESENCE_PACE_DIV 64

typedef struct sb_native_pres sb_native_pres;

sb_native_pres *sb_native_pres_new(sb_server *srv);   /* NULL on OOM */
void sb_native_pres_free(sb_native_pres *p);
/* The server stops listening (its lws context goes): the timer is
 * cancelled and what is queued goes out at the end of the turn. */
void sb_native_pres_stop(sb_native_pres *p);
/* The next sequence number: a joiner's, or an event's. */
uint64_t sb_native_pres_next(sb_native_pres *p);
/* Queues event f (a reference is taken) numbered seq for the channel's
 * native connections that joined before it; sent at the end of the turn
 * (a big channel's a little later).
 * 0, or -1 when memory ran out (the caller sends it now). */
int sb_native_pres_event(sb_native_pres *p, const char *ch, size_t chlen,
                         uint64_t seq, sb_frame *f);
/* Sends the channel's queued events now (a message to the channel is
 * about to go out and must not overtake them). */
void sb_native_pres_flush(sb_native_pres *p, const char *ch, size_t chlen);
/* 1 while some channel has queued events. */
int sb_native_pres_pending(const sb_native_pres *p);

#endif

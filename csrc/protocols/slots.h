/* The encoding-cache slots of a message (sb_msg.enc in hub/hub.h), one per
 * wire format: the first receiver of a format encodes a message once and
 * every other receiver of that format shares the frame.  A new protocol
 * claims its slots here (docs/adding-a-protocol.md). */
#ifndef SB_PROTOCOL_SLOTS_H
#define SB_PROTOCOL_SLOTS_H

#include "hub/hub.h"

enum {
    SB_ENC_NATIVE,        /* native envelope */
    SB_ENC_NATIVE_ID,     /* ... with an "id" key, for clients that recover */
    SB_ENC_PHOENIX,       /* Phoenix V2 array frame */
    SB_ENC_PHOENIX_V1,    /* Phoenix V1 object frame */
    SB_ENC_SSE,           /* one SSE event as an HTTP chunk */
    SB_ENC_PUSHER,        /* Pusher event frame */
    SB_ENC_COUNT
};

typedef char sb_enc_slots_fit[(SB_ENC_COUNT <= SB_MSG_ENC_SLOTS) ? 1 : -1];

#endif

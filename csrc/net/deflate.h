/* permessage-deflate (RFC 7692) for the own WebSocket transport (tcp.h).
 *
 * The server always answers with server_no_context_takeover and
 * client_no_context_takeover: every message, in both directions, is a
 * deflate stream of its own.  That is what lets one server hold a single
 * deflater and a single inflater, reset per message, instead of two zlib
 * streams (~300 KiB) per connection, and what lets a fan-out frame be
 * compressed once and the same bytes go to every receiver.
 *
 * Only one parameter set is ever in use (window 15, no context takeover):
 * an offer that asks the server for a smaller window
 * (server_max_window_bits < 15) is declined and the next offer is tried,
 * so one compressed twin per frame serves every compressing receiver.
 *
 * deflate_offer.c parses the client's offers; deflate.c compresses and
 * inflates.  TLS listeners and SB_LWS_WEBSOCKETS=1 stay on lws, which
 * negotiates no extension. */
#ifndef SB_NET_DEFLATE_H
#define SB_NET_DEFLATE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/frame.h"

/* The answer to an accepted offer, a header line for the 101. */
#define SB_PMD_RESPONSE                                           \
    "Sec-WebSocket-Extensions: permessage-deflate; "              \
    "server_no_context_takeover; client_no_context_takeover\r\n"

/* Payloads below this many bytes go uncompressed: deflate's block header
 * and the saved bytes do not pay for the work on either side. */
#define SB_PMD_MIN 128

/* 1 when the value of Sec-WebSocket-Extensions (repeated headers joined
 * with ", "; NULL: none) holds a permessage-deflate offer this server
 * accepts; 0 otherwise, malformed offers included (the handshake then
 * goes on without the extension). */
int sb_pmd_offer_ok(const char *extensions);

/* The per-server zlib state: made on first use, freed with the server. */
typedef struct sb_pmd {
    struct z_stream_s *def;
    struct z_stream_s *inf;
} sb_pmd;

void sb_pmd_free(sb_pmd *z);

/* The frame to write to a receiver that negotiated compression: f's
 * compressed twin (made now when f was never tried), or f itself for a
 * small payload, one that does not shrink, or when memory ran out. */
sb_frame *sb_pmd_wire(sb_pmd *z, sb_frame *f);

/* Inflates one compressed message (RFC 7692 7.2.2: the stripped
 * 00 00 ff ff is added back) into out, which must be empty.  Stops as
 * soon as the output passes max bytes, with no allocation beyond max + 1.
 * Returns 0, 1009 (over max), 1007 (not valid deflate data) or 1011 (out
 * of memory), with *why a short static reason. */
int sb_pmd_inflate(sb_pmd *z, const unsigned char *in, size_t n, size_t max,
                   sb_buf *out, const char **why);

#endif

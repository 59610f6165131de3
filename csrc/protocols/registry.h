/* Every protocol switchboard speaks, as the server's table of ops
 * (net/proto.h).  The binding hands this table to each server it makes;
 * adding a protocol is a folder beside the others and a line in
 * registry.c (docs/adding-a-protocol.md). */
#ifndef SB_PROTOCOL_REGISTRY_H
#define SB_PROTOCOL_REGISTRY_H

#include "net/proto.h"

/* NULL-terminated, in routing order. */
extern const sb_proto_ops *const sb_protocols[];

#endif

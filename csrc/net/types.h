/* The server's two handle types, named once: C99 (unlike C11) forbids
 * repeating a typedef, and proto.h, flush.h and server.h all need them
 * before they can include each other. */
#ifndef SB_NET_TYPES_H
#define SB_NET_TYPES_H

typedef struct sb_server sb_server;
typedef struct sb_wsconn sb_wsconn;

#endif

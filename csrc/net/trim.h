/* Memory back to the system after a storm (trim.c): when a server that
 * held many connections has lost most of them, glibc's allocator is asked
 * once, at the end of that turn, to return the free pages it keeps.  A
 * 20,000-socket storm otherwise left ten times the idle size resident.
 * The app's garbage goes first (collect): the Lua objects of the
 * connections that left are not collected until something allocates,
 * and they kept most of the freed heap's pages in use. */
#ifndef SB_TRIM_H
#define SB_TRIM_H

#include "loop.h"

typedef struct sb_trimmer {
    sb_turn_hook hook;     /* first: the hook's address is the trimmer's */
    sb_loop *loop;
    int peak;              /* most connections since the last trim */
    /* runs just before the trim (NULL: none): the app frees its garbage
     * first (a full Lua GC), or the pages it sits on could not go back */
    void (*collect)(void *arg);
    void *arg;
} sb_trimmer;

void sb_trimmer_init(sb_trimmer *t, sb_loop *loop);
/* Cancels a trim still armed (the server goes). */
void sb_trimmer_free(sb_trimmer *t);
/* The server now has `conns` connections. */
void sb_trimmer_count(sb_trimmer *t, int conns);

#endif

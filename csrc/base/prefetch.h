/* A hint to start loading memory that a loop will touch soon.
 *
 * The fan-out and the end-of-turn writer walk linked lists of
 * connections that are spread over the heap: with thousands of them,
 * each step waits for a cache miss on the next one (perf showed the
 * first touch of each connection as the top user-space cost of the rooms
 * benchmarks).  Asking for the next node while the current one is worked
 * on overlaps those waits.  A no-op where the compiler has no builtin. */
#ifndef SB_PREFETCH_H
#define SB_PREFETCH_H

#if defined(__GNUC__) || defined(__clang__)
#define SB_PREFETCH(p) __builtin_prefetch((const void *)(p))
#else
#define SB_PREFETCH(p) ((void)(p))
#endif

#endif

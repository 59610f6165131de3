/* A small hash map keyed by byte strings, values are opaque pointers.
 *
 * The hub needs several O(1) indexes (channel by name, subscription by
 * connection, member by id); one generic map keeps them uniform.  Entries
 * are chained and carry a copy of their key, so callers need not keep keys
 * alive.  Buckets grow and shrink with the count, so churn leaves no growth.
 * A failed allocation while growing is harmless (the map just stays denser);
 * only sb_map_put can fail, and then the map is unchanged. */
#ifndef SB_MAP_H
#define SB_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_map_entry sb_map_entry;

typedef struct sb_map {
    sb_map_entry **buckets;
    size_t nbuckets;       /* 0 or a power of two */
    size_t count;
    uint64_t seed;         /* mixed into the hash so keys cannot be aimed */
} sb_map;

/* Position of an iteration.  The map must not change while iterating:
 * sb_map_del may shrink the table and reorder the entries. */
typedef struct sb_map_iter {
    size_t bucket;
    sb_map_entry *next;
} sb_map_iter;

void sb_map_init(sb_map *m, uint64_t seed);
/* Frees the entries and buckets, not the values. */
void sb_map_clear(sb_map *m);
void *sb_map_get(const sb_map *m, const void *key, size_t len);
/* Adds or replaces; returns 0, or -1 when memory ran out (map unchanged). */
int sb_map_put(sb_map *m, const void *key, size_t len, void *val);
/* Removes the key; returns its value, or NULL if it was absent. */
void *sb_map_del(sb_map *m, const void *key, size_t len);
void sb_map_iter_init(sb_map_iter *it);
/* Returns 1 and fills the out parameters (any may be NULL) while entries
 * remain, then 0. */
int sb_map_next(const sb_map *m, sb_map_iter *it, const void **key,
                size_t *len, void **val);

#endif

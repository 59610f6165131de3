#include "map.h"

#include <stdlib.h>
#include <string.h>

struct sb_map_entry {
    sb_map_entry *next;
    uint64_t hash;
    size_t len;
    void *val;
    unsigned char key[];
};

#define SB_MAP_MIN 8

/* FNV-1a: short keys (names, pointers) dominate, and it is branch-free. */
static uint64_t map_hash(uint64_t seed, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 14695981039346656037ULL ^ seed;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void sb_map_init(sb_map *m, uint64_t seed)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
    m->seed = seed;
}

void sb_map_clear(sb_map *m)
{
    size_t i;

    for (i = 0; i < m->nbuckets; i++) {
        sb_map_entry *e = m->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->buckets);
    sb_map_init(m, m->seed);
}

/* Moves every entry into a table of n buckets; on allocation failure the
 * map keeps its old table, which stays correct, only slower. */
static void map_resize(sb_map *m, size_t n)
{
    sb_map_entry **nb = calloc(n, sizeof *nb);
    size_t i;

    if (!nb)
        return;
    for (i = 0; i < m->nbuckets; i++) {
        sb_map_entry *e = m->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->nbuckets = n;
}

static sb_map_entry **map_slot(const sb_map *m, const void *key, size_t len,
                               uint64_t h)
{
    sb_map_entry **pe = &m->buckets[h & (m->nbuckets - 1)];

    for (; *pe; pe = &(*pe)->next)
        if ((*pe)->hash == h && (*pe)->len == len &&
            memcmp((*pe)->key, key, len) == 0)
            return pe;
    return pe;
}

void *sb_map_get(const sb_map *m, const void *key, size_t len)
{
    uint64_t h;
    sb_map_entry **pe;

    if (!m->count)
        return NULL;
    h = map_hash(m->seed, key, len);
    pe = map_slot(m, key, len, h);
    return *pe ? (*pe)->val : NULL;
}

int sb_map_put(sb_map *m, const void *key, size_t len, void *val)
{
    uint64_t h = map_hash(m->seed, key, len);
    sb_map_entry **pe, *e;

    if (!m->nbuckets) {
        map_resize(m, SB_MAP_MIN);
        if (!m->nbuckets)
            return -1;
    }
    pe = map_slot(m, key, len, h);
    if (*pe) {
        (*pe)->val = val;
        return 0;
    }
    e = malloc(sizeof *e + len);
    if (!e)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->len = len;
    e->val = val;
    if (len)
        memcpy(e->key, key, len);
    *pe = e;
    m->count++;
    if (m->count > m->nbuckets)
        map_resize(m, m->nbuckets * 2);
    return 0;
}

void *sb_map_del(sb_map *m, const void *key, size_t len)
{
    sb_map_entry **pe, *e;
    void *val;

    if (!m->count)
        return NULL;
    pe = map_slot(m, key, len, map_hash(m->seed, key, len));
    e = *pe;
    if (!e)
        return NULL;
    *pe = e->next;
    val = e->val;
    free(e);
    m->count--;
    /* Give memory back after churn: an empty map holds no table at all. */
    if (m->count == 0) {
        free(m->buckets);
        m->buckets = NULL;
        m->nbuckets = 0;
    } else if (m->nbuckets > SB_MAP_MIN && m->count < m->nbuckets / 8) {
        map_resize(m, m->nbuckets / 2);
    }
    return val;
}

void sb_map_iter_init(sb_map_iter *it)
{
    it->bucket = 0;
    it->next = NULL;
}

int sb_map_next(const sb_map *m, sb_map_iter *it, const void **key,
                size_t *len, void **val)
{
    sb_map_entry *e = it->next;

    while (!e && it->bucket < m->nbuckets)
        e = m->buckets[it->bucket++];
    if (!e)
        return 0;
    it->next = e->next;
    if (key)
        *key = e->key;
    if (len)
        *len = e->len;
    if (val)
        *val = e->val;
    return 1;
}

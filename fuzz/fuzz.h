/* Shared helpers for the libFuzzer targets in this directory.
 *
 * A target must turn a logic error into a crash, or libFuzzer cannot see
 * it: FUZZ_CHECK prints what disagreed and calls abort().  That is the
 * fuzzer's contract, not the library's (the codecs themselves never abort).
 * Every target copies its input into an exact-size heap block first, so
 * ASan flags any read past the end even where libFuzzer's own buffer
 * would have had slack. */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* Two byte ranges hold the same bytes. */
static inline int fuzz_same(const void *a, size_t an, const void *b,
                            size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* An exact-size copy of the input (NULL for an empty one is avoided: a
 * one-byte block is returned so pointers are never NULL). */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
    char *p = malloc(n ? n : 1);

    if (p && n)
        memcpy(p, data, n);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

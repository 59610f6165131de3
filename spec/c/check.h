/* A tiny assertion kit for the C unit tests: no framework, no globals.
 *
 * Each test program makes one check_ctx, passes it to its test functions
 * (which call it `t`), and ends with `return check_report(&t);`, which
 * prints `<suite>: N passed, M failed`.  scripts/run-ctest.sh sums those
 * lines.  Failures print file:line and, for byte comparisons, both sides
 * with non-printable bytes escaped. */
#ifndef SB_CHECK_H
#define SB_CHECK_H

#include <stdio.h>
#include <string.h>

#include "base/buf.h"

typedef struct check_ctx {
    const char *suite;
    int passed;
    int failed;
} check_ctx;

static inline void check_dump(const char *label, const void *p, size_t n)
{
    const unsigned char *u = p;
    size_t i;

    fprintf(stderr, "    %s (%zu): \"", label, n);
    for (i = 0; i < n; i++) {
        if (u[i] >= 0x20 && u[i] < 0x7f && u[i] != '\\')
            fputc(u[i], stderr);
        else
            fprintf(stderr, "\\x%02x", u[i]);
    }
    fprintf(stderr, "\"\n");
}

static inline int check_at(check_ctx *t, int ok, const char *what,
                           const char *file, int line)
{
    if (ok) {
        t->passed++;
        return 1;
    }
    t->failed++;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
    return 0;
}

static inline int check_mem_at(check_ctx *t, const void *got, size_t gn,
                               const void *want, size_t wn, const char *what,
                               const char *file, int line)
{
    int ok = gn == wn && (wn == 0 || memcmp(got, want, wn) == 0);

    if (!check_at(t, ok, what, file, line)) {
        check_dump("got ", got, gn);
        check_dump("want", want, wn);
    }
    return ok;
}

static inline int check_report(const check_ctx *t)
{
    printf("%s: %d passed, %d failed\n", t->suite, t->passed, t->failed);
    return t->failed ? 1 : 0;
}

#define CHECK(cond) check_at(t, (cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_INT(got, want)                                                 \
    do {                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);             \
        if (!check_at(t, g_ == w_, #got " == " #want, __FILE__, __LINE__))   \
            fprintf(stderr, "    got %lld, want %lld\n", g_, w_);            \
    } while (0)
/* Bytes (p, n) equal a string literal (which may hold NUL bytes). */
#define CHECK_MEM(p, n, lit)                                                 \
    check_mem_at(t, (p), (n), (lit), sizeof(lit) - 1, #p " == " #lit,        \
                 __FILE__, __LINE__)
/* Contents of an sb_buf equal a string literal. */
#define CHECK_BUF(b, lit)                                                    \
    check_mem_at(t, sb_buf_data(b) ? (const void *)sb_buf_data(b) : "",      \
                 (b)->len, (lit), sizeof(lit) - 1, #b " == " #lit, __FILE__, \
                 __LINE__)
/* A span equals a string literal (NULL span never does). */
#define CHECK_SPAN(s, lit)                                                   \
    ((s).p ? CHECK_MEM((s).p, (s).n, lit)                                    \
           : check_at(t, 0, #s " is null, want " #lit, __FILE__, __LINE__))

/* sb_span from a literal, and the absent span. */
#define S(lit) ((sb_span){ (lit), sizeof(lit) - 1 })
#define NOSPAN ((sb_span){ NULL, 0 })

#endif

/* check.h - assertions and data patterns shared by the C API tests. */
#ifndef BENCHFS_TEST_CHECK_H
#define BENCHFS_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"

/* Fails the test with the location, the expression and the thread's last BenchFS error. */
#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", __FILE__, __LINE__, \
                    #cond, benchfs_errno(), benchfs_get_error());                                \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

/* Checks that an integer-returning call gives exactly `want`. */
#define CHECK_RC(expr, want)                                                                      \
    do {                                                                                          \
        long long got_ = (long long)(expr);                                                       \
        long long want_ = (long long)(want);                                                      \
        if (got_ != want_) {                                                                      \
            fprintf(stderr, "%s:%d: %s returned %lld, expected %lld (last error %d: %s)\n",       \
                    __FILE__, __LINE__, #expr, got_, want_, benchfs_errno(), benchfs_get_error()); \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

/* Byte `off` of the test pattern `seed`: every byte of every file is predictable, so
 * a misplaced or torn write shows up wherever it lands. */
static inline unsigned char pattern_byte(uint64_t seed, uint64_t off) {
    uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ULL ^ (off / 8) * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (off % 8)));
}

static inline void pattern_fill(unsigned char *buf, size_t len, uint64_t seed, uint64_t off) {
    for (size_t i = 0; i < len; i++) buf[i] = pattern_byte(seed, off + i);
}

/* Index of the first byte that differs from the pattern, or -1. */
static inline long long pattern_mismatch(const unsigned char *buf, size_t len, uint64_t seed, uint64_t off) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_byte(seed, off + i)) return (long long)i;
    return -1;
}

#endif

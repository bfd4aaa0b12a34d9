/*
 * Shared helpers for the libFuzzer harnesses in tests/fuzz/.
 *
 * Harnesses use only the public protocol API (include/rtmpd/). An invariant
 * that does not hold is reported with FUZZ_CHECK: it prints where and why,
 * then traps, so libFuzzer records the input as a crash.
 *
 * Decisions a harness makes beyond the parsed bytes (split points, injected
 * messages, limits) come from the first bytes of the input and from a small
 * PRNG seeded by them, so every run of an input is the same.
 */
#ifndef RTMPD_FUZZ_COMMON_H
#define RTMPD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            fflush(stderr);                                                     \
            __builtin_trap();                                                   \
        }                                                                       \
    } while (0)

/* splitmix64: small, fast, and good enough to pick split points. */
struct fuzz_rng {
    uint64_t s;
};

static inline uint64_t fuzz_next(struct fuzz_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the bias is irrelevant here). */
static inline uint32_t fuzz_below(struct fuzz_rng *r, uint32_t n)
{
    return (uint32_t)(fuzz_next(r) % n);
}

/*
 * A piece length for feeding a parser in parts: mostly small (1-16 bytes),
 * sometimes up to 1 KiB, sometimes everything that is left.
 */
static inline size_t fuzz_piece(struct fuzz_rng *r, size_t left)
{
    size_t n;

    switch (fuzz_below(r, 8)) {
    case 0: n = 1; break;
    case 1: case 2: case 3: n = 1 + fuzz_below(r, 16); break;
    case 4: case 5: n = 1 + fuzz_below(r, 256); break;
    case 6: n = 1 + fuzz_below(r, 1024); break;
    default: n = left; break;
    }
    return n < left ? n : left;
}

static inline uint32_t fuzz_rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* FNV-1a, to compare payloads without keeping them. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif

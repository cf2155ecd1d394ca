/*  pl_hash: see pl_hash.h. SipHash-1-3 after the reference description (Aumasson and
    Bernstein); one compression round per word and three at the end, the variant Rust
    and Python chose for table hashing: fast on short keys, still keyed. */
#include "pl_hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t s_k0, s_k1;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void key_from(const unsigned char key[16])
{
    s_k0 = load64(key);
    s_k1 = load64(key + 8);
}

static void init_key(void)
{
    unsigned char key[16];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
        /* No kernel entropy (a very old kernel): a per-process mix is still better
           than a key every attacker knows. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        uint64_t b = (uint64_t)(uintptr_t)&a ^ (a * 0x9e3779b97f4a7c15ULL);
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
    }
    key_from(key);
}

void pl_hash_set_key(const unsigned char key[16])
{
    pthread_once(&s_once, init_key);
    key_from(key);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                         \
    do {                                                                                 \
        v0 += v1;                                                                        \
        v1 = ROTL(v1, 13);                                                               \
        v1 ^= v0;                                                                        \
        v0 = ROTL(v0, 32);                                                               \
        v2 += v3;                                                                        \
        v3 = ROTL(v3, 16);                                                               \
        v3 ^= v2;                                                                        \
        v0 += v3;                                                                        \
        v3 = ROTL(v3, 21);                                                               \
        v3 ^= v0;                                                                        \
        v2 += v1;                                                                        \
        v1 = ROTL(v1, 17);                                                               \
        v1 ^= v2;                                                                        \
        v2 = ROTL(v2, 32);                                                               \
    } while (0)

static uint64_t sip(uint64_t k0, uint64_t k1, const void *data, size_t len, int c_rounds,
                    int d_rounds)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - len % 8;
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    for (size_t i = 0; i <= whole; i += 8) { /* the whole words, then the last one */
        uint64_t m = i < whole ? load64(p + i) : last;
        v3 ^= m;
        for (int r = 0; r < c_rounds; r++)
            SIPROUND;
        v0 ^= m;
    }
    v2 ^= 0xff;
    for (int r = 0; r < d_rounds; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t pl_hash_sip(const unsigned char key[16], const void *data, size_t len, int c_rounds,
                     int d_rounds)
{
    return sip(load64(key), load64(key + 8), data, len, c_rounds, d_rounds);
}

uint64_t pl_hash_keyed(const void *data, size_t len)
{
    pthread_once(&s_once, init_key);
    return sip(s_k0, s_k1, data, len, 1, 3);
}

uint64_t pl_hash_stable(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/*  pl_clock: the two clocks. Monotonic for timeouts inside one process, wall clock
    (epoch ms) for anything that crosses processes (request deadlines) or is shown. */
#ifndef PL_CLOCK_H
#define PL_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline int64_t pl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t pl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t pl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Format epoch microseconds as ISO 8601 UTC with milliseconds
   ("2026-11-22T04:14:31.123Z"). `out` needs 25 bytes. */
void pl_iso8601_ms(int64_t epoch_us, char *out, size_t cap);

#endif

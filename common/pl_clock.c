/*  pl_clock: ISO 8601 formatting shared by every service. */
#include "pl_clock.h"

#include <stdio.h>

void pl_iso8601_ms(int64_t epoch_us, char *out, size_t cap)
{
    time_t secs = (time_t)(epoch_us / 1000000);
    int ms = (int)((epoch_us % 1000000) / 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/*  pl_config: validated environment variables. */
#include "pl_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pl_log.h"

int pl_env_int(const char *name, int64_t dflt, int64_t min, int64_t max, int64_t *out)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        pl_error("bad configuration", "var=%s value=\"%.40s\" expected=\"integer in [%" PRId64
                 ", %" PRId64 "]\"", name, v, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

const char *pl_env_str(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

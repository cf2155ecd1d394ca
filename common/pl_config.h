/*  pl_config: configuration from environment variables (12-factor).
    The one thing to know: every getter validates, and on a bad value returns -1 after
    printing one clear line naming the variable; main() then exits non-zero. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdint.h>

/* Integer variable in [min, max]; unset or empty → dflt. */
int pl_env_int(const char *name, int64_t dflt, int64_t min, int64_t max, int64_t *out);
/* String variable; unset or empty → dflt (may be NULL). Never fails. */
const char *pl_env_str(const char *name, const char *dflt);

#endif

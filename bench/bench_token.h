/*  bench_token: mints the HS256 JWTs parley-bench logs its users in with.
    The one thing to know: common/pl_jwt only verifies; the tool signs its own
    tokens with OpenSSL's HMAC so it needs nothing from the stack but JWT_SECRET. */
#ifndef BENCH_TOKEN_H
#define BENCH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* Write a compact JWS `header.payload.signature` for claims
   {"sub":sub,"role":role,"iat":now,"exp":exp} into `out` (NUL-terminated).
   Returns the token length, or -1 if `cap` is too small or signing failed. */
int bench_token_mint(const char *secret, const char *sub, const char *role, int64_t iat,
                     int64_t exp, char *out, size_t cap);

#endif

/*  pl_jwt: verify a client's JWT and turn it into an identity.
    The one thing to know: the algorithm is pinned by configuration. `alg: none` and
    every algorithm other than the configured one are rejected before any claim is
    believed; `exp` (and `nbf`) are enforced when present; `iss` and `aud` only when the
    verifier was told what to expect (pl_jwt_verifier_expect). */
#ifndef PL_JWT_H
#define PL_JWT_H

#include <stddef.h>
#include <stdint.h>

#define PL_USER_ID_MAX 128   /* bytes, without NUL */
#define PL_NAME_MAX 128      /* bytes, without NUL */
#define PL_TOKEN_MAX 8192    /* a longer token is rejected unread */

typedef enum { PL_ROLE_NONE = 0, PL_ROLE_STUDENT, PL_ROLE_MENTOR, PL_ROLE_ADMIN } pl_role_t;

typedef struct {
    char user_id[PL_USER_ID_MAX + 1]; /* `sub`; a numeric sub as its decimal string */
    pl_role_t role;                    /* `role`; "user" is read as student */
    char name[PL_NAME_MAX + 1];        /* optional `name`, "" when absent */
    int64_t exp;                       /* 0 when the token has no exp */
    int64_t iat;                       /* `iat` (issued at, epoch s), 0 when absent */
} pl_identity_t;

typedef struct pl_jwt_verifier_t pl_jwt_verifier_t;

/* alg is "HS256" (key = shared secret), "RS256" or "ES256" (key = PEM public key).
   Returns NULL on an unknown alg, an empty key or allocation failure. */
pl_jwt_verifier_t *pl_jwt_verifier_new(const char *alg, const unsigned char *key, size_t keylen);
void pl_jwt_verifier_destroy(pl_jwt_verifier_t **self_p);

/* Require `iss` to equal `issuer` and `aud` (a string, or a list of strings) to be or
   contain `audience`. NULL or "" leaves that claim unchecked (the default). Tokens
   without the claim are then refused ("missing iss", "missing aud"), as are tokens
   naming another ("wrong iss", "wrong aud"). Returns 0, or -1 when out of memory (the
   verifier is then as it was). */
int pl_jwt_verifier_expect(pl_jwt_verifier_t *self, const char *issuer, const char *audience);

/* Verify `token` at time `now_s` (epoch seconds). On success fill *out and return 0.
   On failure return -1 and put a short reason in err ("bad signature", "expired",
   "algorithm not allowed", "missing sub", "bad role", ...). The reason is for logs
   and for the client's error message; it never echoes the token. */
int pl_jwt_verify(pl_jwt_verifier_t *self, const char *token, int64_t now_s, pl_identity_t *out,
                  char *err, size_t errlen);

/* "student", "mentor", "admin" (or "none"). */
const char *pl_role_name(pl_role_t role);
/* Parse a role name as the contract reads it ("user" → student); PL_ROLE_NONE if unknown. */
pl_role_t pl_role_parse(const char *s, size_t len);

#endif

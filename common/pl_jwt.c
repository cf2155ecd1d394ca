/*  pl_jwt: verify a client's JWT with libjwt 1.10 and turn it into an identity.
    The one thing to know: libjwt 1.10's jwt_decode() takes the algorithm from the
    token's own header, so on its own it accepts an HS512 token for an HS256 secret and
    an HS256 token whose HMAC secret is our RS256 public key (key confusion). We
    therefore decode and check the JOSE header ourselves, against the configured
    algorithm, before libjwt sees the token, and read the claims from our own strict
    parse of the payload segment (the same bytes the signature covers). */
#include "pl_jwt.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pl_text.h"

struct pl_jwt_verifier_t {
    jwt_alg_t alg;
    const char *alg_name; /* exactly as it must appear in the header */
    unsigned char *key;   /* secret or PEM, NUL-terminated copy */
    size_t keylen;
    char *issuer;   /* owned; NULL: `iss` is not checked */
    char *audience; /* owned; NULL: `aud` is not checked */
};

/* A segment of the compact serialisation: header, payload or signature. */
typedef struct {
    const char *p;
    size_t n;
} seg_t;

/* Largest decoded size of one segment of a token no longer than PL_TOKEN_MAX. */
#define SEG_DECODED_MAX (PL_TOKEN_MAX / 4 * 3 + 3)

pl_jwt_verifier_t *pl_jwt_verifier_new(const char *alg, const unsigned char *key, size_t keylen)
{
    static const struct {
        const char *name;
        jwt_alg_t alg;
    } allowed[] = {{"HS256", JWT_ALG_HS256}, {"RS256", JWT_ALG_RS256}, {"ES256", JWT_ALG_ES256}};

    if (!alg || !key || keylen == 0 || keylen > INT_MAX) /* jwt_decode takes an int */
        return NULL;
    size_t i;
    for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(alg, allowed[i].name) == 0)
            break;
    if (i == sizeof allowed / sizeof allowed[0])
        return NULL;

    pl_jwt_verifier_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->key = malloc(keylen + 1);
    if (!self->key) {
        free(self);
        return NULL;
    }
    memcpy(self->key, key, keylen);
    self->key[keylen] = '\0';
    self->keylen = keylen;
    self->alg = allowed[i].alg;
    self->alg_name = allowed[i].name;
    return self;
}

void pl_jwt_verifier_destroy(pl_jwt_verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pl_jwt_verifier_t *self = *self_p;
    /* The key is a secret (for HS256): do not leave it in freed memory. */
    memset(self->key, 0, self->keylen);
    free(self->key);
    free(self->issuer);
    free(self->audience);
    free(self);
    *self_p = NULL;
}

int pl_jwt_verifier_expect(pl_jwt_verifier_t *self, const char *issuer, const char *audience)
{
    assert(self);
    char *iss = issuer && *issuer ? strdup(issuer) : NULL;
    char *aud = audience && *audience ? strdup(audience) : NULL;
    if ((issuer && *issuer && !iss) || (audience && *audience && !aud)) {
        free(iss);
        free(aud);
        return -1;
    }
    free(self->issuer);
    free(self->audience);
    self->issuer = iss;
    self->audience = aud;
    return 0;
}

const char *pl_role_name(pl_role_t role)
{
    switch (role) {
    case PL_ROLE_STUDENT:
        return "student";
    case PL_ROLE_MENTOR:
        return "mentor";
    case PL_ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

pl_role_t pl_role_parse(const char *s, size_t len)
{
    static const struct {
        const char *name;
        pl_role_t role;
    } names[] = {{"student", PL_ROLE_STUDENT},
                 {"mentor", PL_ROLE_MENTOR},
                 {"admin", PL_ROLE_ADMIN},
                 {"user", PL_ROLE_STUDENT}};

    if (!s)
        return PL_ROLE_NONE;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(s, names[i].name, len) == 0)
            return names[i].role;
    return PL_ROLE_NONE;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict unpadded base64url (RFC 7515 §2): only the URL alphabet, no '=', and the
   unused low bits of the last character must be zero, so that every decoded header
   has exactly one spelling. Returns the decoded length, or -1. */
static long b64url_decode(const seg_t *s, unsigned char *out, size_t cap)
{
    if (s->n % 4 == 1 || s->n / 4 * 3 + 2 > cap)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        int v = b64url_value((unsigned char)s->p[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero padding */
        return -1;
    return (long)o;
}

/* Decode one segment into a JSON object. Duplicate member names are refused: libjwt
   would silently take the last one and we must not read a different claim than it
   verified. */
static json_t *decode_object(const seg_t *s)
{
    unsigned char buf[SEG_DECODED_MAX];
    long n = b64url_decode(s, buf, sizeof buf);
    if (n <= 0)
        return NULL;
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Exactly three segments, header and payload non-empty. An empty signature is let
   through here only so that an `alg: none` token is reported as such by
   check_header(); it is refused right after. */
static int split(const char *token, size_t len, seg_t seg[3])
{
    const char *p = token, *end = token + len;
    for (int i = 0; i < 3; i++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if ((i < 2) != (dot != NULL))
            return -1;
        seg[i].p = p;
        seg[i].n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        if (seg[i].n == 0 && i < 2)
            return -1;
        p = dot ? dot + 1 : end;
    }
    return 0;
}

/* The algorithm check that libjwt 1.10 does not do. Returns NULL or a reason. */
static const char *check_header(const pl_jwt_verifier_t *self, const seg_t *s)
{
    json_t *h = decode_object(s);
    if (!h)
        return "malformed token";
    const char *why = NULL;
    json_t *alg = json_object_get(h, "alg");
    json_t *typ = json_object_get(h, "typ");
    if (!json_is_string(alg) || json_string_length(alg) != strlen(self->alg_name) ||
        strcmp(json_string_value(alg), self->alg_name) != 0)
        why = "algorithm not allowed";
    else if (json_object_get(h, "crit"))
        why = "unsupported header"; /* RFC 7515 §4.1.11: we understand no extension */
    else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        why = "unsupported token type"; /* libjwt refuses these too, as a "bad signature" */
    json_decref(h);
    return why;
}

/* A user id ends up in logs and in other users' frames: valid UTF-8 and no C0, DEL
   or C1 control characters. */
static int clean_text(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = pl_utf8_next(u + i, u + n, &cp);
        if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return 0;
        i += k;
    }
    return 1;
}

static const char *read_sub(json_t *claims, pl_identity_t *id)
{
    json_t *sub = json_object_get(claims, "sub");
    if (!sub || json_is_null(sub))
        return "missing sub";
    if (json_is_integer(sub)) {
        /* Some issuers put the database id in sub; it means the same as its decimal
           string. A negative number is never a user id. */
        json_int_t v = json_integer_value(sub);
        if (v < 0)
            return "bad sub";
        int w = snprintf(id->user_id, sizeof id->user_id, "%" JSON_INTEGER_FORMAT, v);
        if (w < 0 || (size_t)w >= sizeof id->user_id)
            return "bad sub";
        return NULL;
    }
    if (!json_is_string(sub))
        return "bad sub"; /* float, bool, object, array */
    size_t n = json_string_length(sub);
    if (n == 0)
        return "missing sub";
    if (n > PL_USER_ID_MAX || !clean_text(json_string_value(sub), n))
        return "bad sub";
    memcpy(id->user_id, json_string_value(sub), n);
    id->user_id[n] = '\0';
    return NULL;
}

static const char *read_role(json_t *claims, pl_identity_t *id)
{
    json_t *role = json_object_get(claims, "role");
    if (!role || json_is_null(role))
        return "missing role";
    if (!json_is_string(role))
        return "bad role";
    id->role = pl_role_parse(json_string_value(role), json_string_length(role));
    return id->role == PL_ROLE_NONE ? "bad role" : NULL;
}

/* `name` is cosmetic: a long one is cut (at a character boundary) rather than refused. */
static const char *read_name(json_t *claims, pl_identity_t *id)
{
    json_t *name = json_object_get(claims, "name");
    if (!name || json_is_null(name))
        return NULL;
    if (!json_is_string(name))
        return "bad name";
    const char *s = json_string_value(name);
    size_t n = json_string_length(name);
    if (n > PL_NAME_MAX) {
        n = PL_NAME_MAX;
        /* jansson has already checked the UTF-8; back off continuation bytes so the
           copy ends on a whole character. */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(id->name, s, n);
    id->name[n] = '\0';
    return NULL;
}

/* NumericDate (RFC 7519 §2) may be a fraction; clamp so the conversion is defined. */
static int64_t numeric_date(json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    double d = json_real_value(v);
    if (d >= 9.2e18)
        return INT64_MAX;
    if (d <= -9.2e18)
        return INT64_MIN;
    return (int64_t)d;
}

static const char *read_times(json_t *claims, int64_t now_s, pl_identity_t *id)
{
    json_t *exp = json_object_get(claims, "exp");
    json_t *nbf = json_object_get(claims, "nbf");
    json_t *iat = json_object_get(claims, "iat");
    /* Not judged here: a revocation (the gateway's gw_revoke.c) compares it. */
    id->iat = iat && json_is_number(iat) ? numeric_date(iat) : 0;
    if (exp) {
        if (!json_is_number(exp))
            return "bad exp";
        /* Compare in double for a fractional exp: 99.5 is still valid at 99. */
        if (json_is_real(exp) ? !(json_real_value(exp) > (double)now_s)
                              : json_integer_value(exp) <= now_s)
            return "expired";
        id->exp = numeric_date(exp);
    }
    if (nbf) {
        if (!json_is_number(nbf))
            return "bad nbf";
        if (json_is_real(nbf) ? !(json_real_value(nbf) <= (double)now_s)
                              : json_integer_value(nbf) > now_s)
            return "not yet valid";
    }
    return NULL;
}

/* Exact comparison (RFC 7519 §4.1.1, §4.1.3: StringOrURI values are compared as
   strings, no normalisation). A string with an embedded NUL never matches. */
static int string_is(json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           memcmp(json_string_value(v), want, strlen(want)) == 0;
}

/* `iss` and `aud`, when the verifier expects them. `aud` may be one string or a list
   of strings (RFC 7519 §4.1.3); ours must be among them. */
static const char *read_issuer_audience(const pl_jwt_verifier_t *self, json_t *claims)
{
    if (self->issuer) {
        json_t *iss = json_object_get(claims, "iss");
        if (!iss || json_is_null(iss))
            return "missing iss";
        if (!string_is(iss, self->issuer))
            return "wrong iss";
    }
    if (self->audience) {
        json_t *aud = json_object_get(claims, "aud");
        if (!aud || json_is_null(aud))
            return "missing aud";
        if (json_is_array(aud)) {
            for (size_t i = 0; i < json_array_size(aud); i++)
                if (string_is(json_array_get(aud, i), self->audience))
                    return NULL;
            return "wrong aud";
        }
        if (!string_is(aud, self->audience))
            return "wrong aud";
    }
    return NULL;
}

static const char *read_claims(const pl_jwt_verifier_t *self, json_t *claims, int64_t now_s,
                               pl_identity_t *id)
{
    const char *why;
    if ((why = read_times(claims, now_s, id)) || (why = read_issuer_audience(self, claims)) ||
        (why = read_sub(claims, id)) || (why = read_role(claims, id)) ||
        (why = read_name(claims, id)))
        return why;
    return NULL;
}

int pl_jwt_verify(pl_jwt_verifier_t *self, const char *token, int64_t now_s, pl_identity_t *out,
                  char *err, size_t errlen)
{
    assert(self && out);
    pl_identity_t id;
    seg_t seg[3];
    json_t *claims = NULL;
    jwt_t *jwt = NULL;
    const char *why = NULL;
    unsigned char sig[SEG_DECODED_MAX];
    int rc;

    memset(&id, 0, sizeof id);
    size_t len = token ? strnlen(token, PL_TOKEN_MAX + 1) : 0; /* never read further */
    if (len == 0) {
        why = "empty token";
        goto fail;
    }
    if (len > PL_TOKEN_MAX) {
        why = "token too long";
        goto fail;
    }
    if (split(token, len, seg) != 0) {
        why = "malformed token";
        goto fail;
    }
    if ((why = check_header(self, &seg[0])) != NULL)
        goto fail;
    /* The pinned algorithm always signs, so the signature must be there and be strict
       base64url (libjwt's decoder is laxer); checking its bytes is libjwt's business. */
    if (b64url_decode(&seg[2], sig, sizeof sig) <= 0 || !(claims = decode_object(&seg[1]))) {
        why = "malformed token";
        goto fail;
    }
    /* Header and payload are well-formed and the alg is ours, so a failure here is the
       signature (or an unusable configured key, which looks the same to a client). */
    rc = jwt_decode(&jwt, token, self->key, (int)self->keylen);
    if (rc != 0 || !jwt) {
        why = rc == ENOMEM ? "out of memory" : "bad signature";
        goto fail;
    }
    /* Belt and braces: libjwt must have verified with the algorithm we checked. */
    if (jwt_get_alg(jwt) != self->alg) {
        why = "algorithm not allowed";
        goto fail;
    }
    if ((why = read_claims(self, claims, now_s, &id)) != NULL)
        goto fail;

    jwt_free(jwt);
    json_decref(claims);
    *out = id;
    return 0;

fail:
    jwt_free(jwt);
    json_decref(claims);
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    return -1;
}

/*  fuzz_jwt: libFuzzer target for pl_jwt_verify with an HS256 secret (`make fuzz`).
    The one thing to know: most random tokens die at the signature, so the target also
    signs. The first input byte picks the mode:
    - 'p': the rest is the payload (claims) bytes; the header is {"alg":"HS256",
      "typ":"JWT"} and the token is signed with the secret, so the claim readers run;
    - 'h': the rest is header bytes, a NUL, payload bytes; signed the same way, so the
      header checks (alg pinning, typ, crit) run on real signatures;
    - anything else: the whole input is the token text (up to a NUL), as a client
      sends it in `auth` (a real token starts with "eyJ", so seeds stay readable).
    Properties, each an abort() when broken:
    - a refusal's reason is short lowercase text, never a piece of the token;
    - an accepted identity has a user id of 1..128 bytes of valid UTF-8 with no control
      characters, a real role, a name of valid UTF-8 within 128 bytes, and an exp that
      is 0 or not in the past;
    - a signed token that is accepted had header alg "HS256", and its sub is the user
      id (a string as is, a non-negative integer in decimal);
    - the same token with its signature's first character changed is refused. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pl_json.h"
#include "pl_jwt.h"

#define NOW 1700000000L
static const char SECRET[] = "parley-fuzz-secret-0123456789abcdef";

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i >= 1) {
        unsigned v = (unsigned)in[i] << 16 | (n - i == 2 ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (n - i == 2)
            out[o++] = abc[v >> 6 & 63];
    }
    return o;
}

/* base64url(header) "." base64url(payload) "." HMAC-SHA256 signature; caller frees. */
static char *sign(const unsigned char *h, size_t hn, const unsigned char *p, size_t pn)
{
    char *tok = malloc(hn / 3 * 4 + pn / 3 * 4 + 64);
    if (!tok)
        return NULL;
    size_t n = b64url(h, hn, tok);
    tok[n++] = '.';
    n += b64url(p, pn, tok + n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, n, md, &mdlen))
        abort();
    tok[n++] = '.';
    n += b64url(md, mdlen, tok + n);
    tok[n] = '\0';
    return tok;
}

static void check_reason(const char *err)
{
    size_t n = strlen(err);
    if (n == 0 || n > 32)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!(err[i] == ' ' || (err[i] >= 'a' && err[i] <= 'z')))
            abort();
}

static void check_identity(const pl_identity_t *id)
{
    size_t n = strnlen(id->user_id, sizeof id->user_id);
    if (n == 0 || n > PL_USER_ID_MAX || pl_utf8_count(id->user_id, n) < 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id->user_id[i];
        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && i + 1 < n && (unsigned char)id->user_id[i + 1] < 0xa0))
            abort(); /* C0, DEL, C1 (U+0080..U+009F is C2 80..C2 9F) */
    }
    if (id->role != PL_ROLE_STUDENT && id->role != PL_ROLE_MENTOR && id->role != PL_ROLE_ADMIN)
        abort();
    size_t m = strnlen(id->name, sizeof id->name);
    if (m > PL_NAME_MAX || pl_utf8_count(id->name, m) < 0)
        abort();
    if (id->exp != 0 && id->exp < NOW)
        abort();
}

/* What an accepted signed token must have said: alg HS256 and this sub. */
static void check_claims(const unsigned char *h, size_t hn, const unsigned char *p, size_t pn,
                         const pl_identity_t *id)
{
    json_t *hdr = json_loadb((const char *)h, hn, 0, NULL);
    json_t *claims = json_loadb((const char *)p, pn, 0, NULL);
    json_t *sub = json_object_get(claims, "sub");
    char want[64];
    if (!hdr || !claims || !json_is_string(json_object_get(hdr, "alg")) ||
        strcmp(json_string_value(json_object_get(hdr, "alg")), "HS256") != 0)
        abort();
    if (json_is_integer(sub)) {
        snprintf(want, sizeof want, "%" JSON_INTEGER_FORMAT, json_integer_value(sub));
        if (json_integer_value(sub) < 0 || strcmp(want, id->user_id) != 0)
            abort();
    } else if (!json_is_string(sub) || json_string_length(sub) != strlen(id->user_id) ||
               memcmp(json_string_value(sub), id->user_id, json_string_length(sub)) != 0) {
        abort();
    }
    json_decref(hdr);
    json_decref(claims);
}

/* An accepted token with one signature character changed must be refused. */
static void check_tampered(pl_jwt_verifier_t *v, char *tok)
{
    char *sig = strrchr(tok, '.');
    if (!sig || !sig[1])
        abort();
    char was = sig[1];
    sig[1] = was == 'A' ? 'B' : 'A';
    pl_identity_t id;
    char err[96];
    if (pl_jwt_verify(v, tok, NOW, &id, err, sizeof err) == 0)
        abort();
    sig[1] = was;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_jwt_verifier_t *v;
    if (!v && !(v = pl_jwt_verifier_new("HS256", (const unsigned char *)SECRET, strlen(SECRET))))
        abort();
    if (size > PL_TOKEN_MAX + 64)
        return 0;

    const unsigned char *h = NULL, *p = NULL;
    size_t hn = 0, pn = 0;
    static const char std_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *tok;
    if (size >= 1 && data[0] == 'p') {
        h = (const unsigned char *)std_header, hn = strlen(std_header);
        p = data + 1, pn = size - 1;
    } else if (size >= 1 && data[0] == 'h') {
        const uint8_t *nul = memchr(data + 1, '\0', size - 1);
        h = data + 1, hn = nul ? (size_t)(nul - h) : size - 1;
        p = nul ? nul + 1 : data + size, pn = nul ? size - hn - 2 : 0;
    }
    tok = h ? sign(h, hn, p, pn) : fuzz_copy(data, size, 1);
    if (!tok)
        return 0;

    pl_identity_t id;
    char err[96];
    memset(&id, 0xA5, sizeof id); /* a field left unset shows as garbage */
    if (pl_jwt_verify(v, tok, NOW, &id, err, sizeof err) == 0) {
        check_identity(&id);
        if (h)
            check_claims(h, hn, p, pn, &id);
        check_tampered(v, tok);
    } else {
        check_reason(err);
    }
    free(tok);
    return 0;
}

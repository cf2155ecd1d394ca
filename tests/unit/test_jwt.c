/*  test_jwt: pl_jwt against tokens minted here with libjwt and tokens crafted by hand.
    The one thing to know: every rejection is checked by its reason, not just by -1, so
    a case that is refused for the wrong cause (say, a bad signature where the point was
    the algorithm) fails. Crafted tokens carry a real HMAC so that the one defect under
    test is the only one. RSA and EC keys are generated at start-up with OpenSSL. */
#include "pl_jwt.h"
#include "pl_test.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#define NOW 1700000000L

static const char SECRET[] = "parley-unit-test-secret-0123456789";
static const char OTHER_SECRET[] = "not-the-parley-secret-9876543210";

/* ---- helpers: encoding, minting, crafting ---- */

static char *b64url(const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n / 3 * 4 + 5);
    if (!out)
        abort();
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static char *b64url_str(const char *s)
{
    return b64url((const unsigned char *)s, strlen(s));
}

/* h.p.signature from already encoded segments; sig NULL means a real HS256 with
   SECRET. Caller frees. */
static char *craft_raw(const char *h, const char *p, const char *sig)
{
    size_t n = strlen(h) + strlen(p) + 2;
    char *signing = malloc(n), *s = NULL;
    if (!signing)
        abort();
    snprintf(signing, n, "%s.%s", h, p);
    if (!sig) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)signing,
                  strlen(signing), md, &mdlen))
            abort();
        s = b64url(md, mdlen);
    } else {
        s = strdup(sig);
        if (!s)
            abort();
    }
    n = strlen(signing) + strlen(s) + 2;
    char *tok = malloc(n);
    if (!tok)
        abort();
    snprintf(tok, n, "%s.%s", signing, s);
    free(s);
    free(signing);
    return tok;
}

/* header.payload.signature from JSON text, as craft_raw(). */
static char *craft(const char *header, const char *payload, const char *sig)
{
    char *h = b64url_str(header), *p = b64url_str(payload);
    char *tok = craft_raw(h, p, sig);
    free(h);
    free(p);
    return tok;
}

static const char HS_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* An HS256 token for `payload` crafted by hand. */
static char *craft_hs(const char *payload)
{
    return craft(HS_HEADER, payload, NULL);
}

static jwt_t *new_jwt(void)
{
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0 || !j)
        abort();
    return j;
}

/* Sign j with alg/key, free it, return the token (caller frees). */
static char *sign(jwt_t *j, jwt_alg_t alg, const void *key, size_t keylen)
{
    if (jwt_set_alg(j, alg, key, (int)keylen) != 0)
        abort();
    char *tok = jwt_encode_str(j);
    if (!tok)
        abort();
    jwt_free(j);
    return tok;
}

/* The usual claims, minted with libjwt; NULL / 0 leaves a claim out. */
static char *mint(jwt_alg_t alg, const void *key, size_t keylen, const char *sub, const char *role,
                  const char *name, long exp)
{
    jwt_t *j = new_jwt();
    if ((sub && jwt_add_grant(j, "sub", sub) != 0) ||
        (role && jwt_add_grant(j, "role", role) != 0) ||
        (name && jwt_add_grant(j, "name", name) != 0) ||
        (exp && jwt_add_grant_int(j, "exp", exp) != 0))
        abort();
    return sign(j, alg, key, keylen);
}

static char *mint_hs(const char *sub, const char *role, const char *name, long exp)
{
    return mint(JWT_ALG_HS256, SECRET, strlen(SECRET), sub, role, name, exp);
}

/* Any claims as JSON, minted with libjwt as HS256 with SECRET. */
static char *mint_json(const char *claims)
{
    jwt_t *j = new_jwt();
    if (jwt_add_grants_json(j, claims) != 0)
        abort();
    return sign(j, JWT_ALG_HS256, SECRET, strlen(SECRET));
}

static pl_jwt_verifier_t *hs_verifier(void)
{
    pl_jwt_verifier_t *v =
        pl_jwt_verifier_new("HS256", (const unsigned char *)SECRET, strlen(SECRET));
    if (!v)
        abort();
    return v;
}

/* Verify, expect success, return the identity. Frees tok. */
#define EXPECT_OK(v, tok, id)                                                                      \
    do {                                                                                           \
        char err_[128] = "";                                                                       \
        char *t_ = (tok);                                                                          \
        memset(&(id), 0x5a, sizeof(id));                                                           \
        int rc_ = pl_jwt_verify((v), t_, NOW, &(id), err_, sizeof err_);                           \
        if (rc_ != 0)                                                                              \
            fprintf(stderr, "  unexpected rejection: %s\n", err_);                                 \
        PL_CHECK(rc_ == 0);                                                                        \
        free(t_);                                                                                  \
    } while (0)

/* Verify, expect -1 with exactly `reason`, and no trace of the token in err. Frees tok. */
#define EXPECT_FAIL(v, tok, reason)                                                                \
    do {                                                                                           \
        char err_[128] = "";                                                                       \
        char *t_ = (tok);                                                                          \
        pl_identity_t id_;                                                                         \
        PL_CHECK(pl_jwt_verify((v), t_, NOW, &id_, err_, sizeof err_) == -1);                      \
        PL_CHECK_STR(err_, (reason));                                                              \
        PL_CHECK(strstr(err_, "eyJ") == NULL);                                                     \
        free(t_);                                                                                  \
    } while (0)

/* ---- RSA / EC keys, made once ---- */

typedef struct {
    char *priv, *pub; /* PEM */
} keypair_t;

static keypair_t rsa_keys, ec_keys;

static char *bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0)
        abort();
    char *s = malloc((size_t)n + 1);
    if (!s)
        abort();
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static void make_keys(keypair_t *kp, EVP_PKEY *pkey)
{
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    if (!pkey || !priv || !pub ||
        !PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_PUBKEY(pub, pkey))
        abort();
    kp->priv = bio_string(priv);
    kp->pub = bio_string(pub);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(pkey);
}

static const keypair_t *rsa(void)
{
    if (!rsa_keys.pub)
        make_keys(&rsa_keys, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
    return &rsa_keys;
}

static const keypair_t *ec(void)
{
    if (!ec_keys.pub)
        make_keys(&ec_keys, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
    return &ec_keys;
}

static void free_keys(void)
{
    free(rsa_keys.priv);
    free(rsa_keys.pub);
    free(ec_keys.priv);
    free(ec_keys.pub);
}

/* ---- cases: good tokens ---- */

static void test_good_string_sub(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_OK(v, mint_hs("alice", "student", "Alice Liddell", 0), id);
    PL_CHECK_STR(id.user_id, "alice");
    PL_CHECK(id.role == PL_ROLE_STUDENT);
    PL_CHECK_STR(id.name, "Alice Liddell");
    PL_CHECK(id.exp == 0);
    pl_jwt_verifier_destroy(&v);
}

static void test_good_numeric_sub(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    jwt_t *j = new_jwt();
    PL_CHECK(jwt_add_grant_int(j, "sub", 42) == 0);
    PL_CHECK(jwt_add_grant(j, "role", "mentor") == 0);
    EXPECT_OK(v, sign(j, JWT_ALG_HS256, SECRET, strlen(SECRET)), id);
    PL_CHECK_STR(id.user_id, "42");
    PL_CHECK(id.role == PL_ROLE_MENTOR);
    PL_CHECK_STR(id.name, "");

    EXPECT_OK(v, mint_json("{\"sub\":0,\"role\":\"student\"}"), id);
    PL_CHECK_STR(id.user_id, "0");
    EXPECT_OK(v, mint_json("{\"sub\":9223372036854775807,\"role\":\"student\"}"), id);
    PL_CHECK_STR(id.user_id, "9223372036854775807");
    pl_jwt_verifier_destroy(&v);
}

static void test_good_roles(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_OK(v, mint_hs("u1", "user", NULL, 0), id);
    PL_CHECK(id.role == PL_ROLE_STUDENT);
    EXPECT_OK(v, mint_hs("u1", "admin", NULL, 0), id);
    PL_CHECK(id.role == PL_ROLE_ADMIN);
    PL_CHECK_STR(id.name, "");
    EXPECT_OK(v, mint_hs("u1", "mentor", "M", 0), id);
    PL_CHECK(id.role == PL_ROLE_MENTOR);
    PL_CHECK_STR(id.name, "M");
    pl_jwt_verifier_destroy(&v);
}

static void test_crafted_token_is_valid(void)
{
    /* The hand-crafting helper itself makes acceptable tokens, so the malformed cases
       below are refused for their defect only. typ is case-insensitive. */
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_OK(v, craft_hs("{\"sub\":\"c\",\"role\":\"admin\"}"), id);
    PL_CHECK_STR(id.user_id, "c");
    PL_CHECK(id.role == PL_ROLE_ADMIN);
    EXPECT_OK(v, craft("{\"alg\":\"HS256\"}", "{\"sub\":\"c\",\"role\":\"admin\"}", NULL), id);
    EXPECT_OK(
        v, craft("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{\"sub\":\"c\",\"role\":\"admin\"}", NULL),
        id);
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: signature and algorithm ---- */

static void test_bad_signature(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v,
                mint(JWT_ALG_HS256, OTHER_SECRET, strlen(OTHER_SECRET), "u1", "student", NULL, 0),
                "bad signature");
    /* A well-formed but wrong signature, and one cut short. */
    EXPECT_FAIL(v, craft(HS_HEADER, "{\"sub\":\"u1\",\"role\":\"admin\"}", "AAAA"),
                "bad signature");
    char *tok = mint_hs("u1", "student", NULL, 0);
    tok[strlen(tok) - 3] = '\0'; /* 40 characters: still canonical base64url */
    EXPECT_FAIL(v, tok, "bad signature");
    pl_jwt_verifier_destroy(&v);
}

static void test_tampered_payload(void)
{
    /* A student's genuine token with the payload swapped for an admin one. */
    pl_jwt_verifier_t *v = hs_verifier();
    char *good = mint_hs("u1", "student", NULL, 0);
    char *evil = b64url_str("{\"sub\":\"u1\",\"role\":\"admin\"}");
    const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    size_t n = strlen(good) + strlen(evil) + 1;
    char *tok = malloc(n);
    PL_CHECK(tok != NULL);
    snprintf(tok, n, "%.*s.%s%s", (int)(dot1 - good), good, evil, dot2);
    EXPECT_FAIL(v, tok, "bad signature");
    free(evil);

    /* One flipped character in the signature. */
    char *dot = strrchr(good, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    EXPECT_FAIL(v, good, "bad signature");
    pl_jwt_verifier_destroy(&v);
}

static void test_alg_none(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    const char *claims = "{\"sub\":\"u1\",\"role\":\"admin\"}";
    EXPECT_FAIL(v, craft("{\"alg\":\"none\"}", claims, ""), "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "c2lnbmF0dXJl"),
                "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"alg\":\"None\"}", claims, ""), "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"alg\":\"NONE\"}", claims, NULL), "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"typ\":\"JWT\"}", claims, NULL), "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"alg\":null}", claims, NULL), "algorithm not allowed");
    /* libjwt's own alg-none token ("h.p." with an empty signature). */
    EXPECT_FAIL(v, mint(JWT_ALG_NONE, NULL, 0, "u1", "admin", NULL, 0), "algorithm not allowed");
    /* Without the signature segment at all it is not even a JWS. */
    char *tok = craft("{\"alg\":\"none\"}", claims, "");
    tok[strlen(tok) - 1] = '\0';
    EXPECT_FAIL(v, tok, "malformed token");
    pl_jwt_verifier_destroy(&v);
}

static void test_wrong_alg(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    char *hs512 = mint(JWT_ALG_HS512, SECRET, strlen(SECRET), "u1", "admin", NULL, 0);
    /* libjwt 1.10 by itself takes the alg from the token and accepts this. */
    jwt_t *j = NULL;
    PL_CHECK(jwt_decode(&j, hs512, (const unsigned char *)SECRET, (int)strlen(SECRET)) == 0);
    jwt_free(j);
    EXPECT_FAIL(v, hs512, "algorithm not allowed");
    EXPECT_FAIL(v, mint(JWT_ALG_HS384, SECRET, strlen(SECRET), "u1", "admin", NULL, 0),
                "algorithm not allowed");
    /* Alg names are case-sensitive (RFC 7515 §4.1.1), even with a valid HMAC. */
    EXPECT_FAIL(v, craft("{\"alg\":\"hs256\"}", "{\"sub\":\"u1\",\"role\":\"admin\"}", NULL),
                "algorithm not allowed");
    EXPECT_FAIL(v, craft("{\"alg\":\"HS256 \"}", "{\"sub\":\"u1\",\"role\":\"admin\"}", NULL),
                "algorithm not allowed");
    pl_jwt_verifier_destroy(&v);
}

static void test_header_fields(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    const char *claims = "{\"sub\":\"u1\",\"role\":\"admin\"}";
    EXPECT_FAIL(v, craft("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims, NULL),
                "unsupported header");
    EXPECT_FAIL(v, craft("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", claims, NULL),
                "unsupported token type");
    EXPECT_FAIL(v, craft("{\"alg\":\"HS256\",\"typ\":7}", claims, NULL), "unsupported token type");
    /* Duplicate names: libjwt would take the last "alg", we refuse to guess. */
    EXPECT_FAIL(v, craft("{\"alg\":\"none\",\"alg\":\"HS256\"}", claims, NULL), "malformed token");
    EXPECT_FAIL(v, craft("{\"alg\":\"HS256\",\"alg\":\"none\"}", claims, NULL), "malformed token");
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: time claims ---- */

static void test_expired(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_hs("u1", "student", NULL, NOW - 1), "expired");
    EXPECT_FAIL(v, mint_hs("u1", "student", NULL, NOW), "expired"); /* exp is exclusive */
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":0}"), "expired");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":1699999999.9}"),
                "expired");
    pl_jwt_verifier_destroy(&v);
}

static void test_exp_future(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_OK(v, mint_hs("u1", "student", NULL, NOW + 1), id);
    PL_CHECK(id.exp == NOW + 1);
    EXPECT_OK(v, mint_hs("u1", "student", NULL, NOW + 3600), id);
    PL_CHECK(id.exp == NOW + 3600);
    /* NumericDate may carry a fraction. */
    EXPECT_OK(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":1700000000.5}"), id);
    PL_CHECK(id.exp == NOW);
    EXPECT_OK(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":1e300}"), id);
    PL_CHECK(id.exp == INT64_MAX);
    pl_jwt_verifier_destroy(&v);
}

static void test_exp_not_number(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":\"9999999999\"}"),
                "bad exp");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":true}"), "bad exp");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":null}"), "bad exp");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"exp\":[1]}"), "bad exp");
    pl_jwt_verifier_destroy(&v);
}

static void test_nbf(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"nbf\":1700000010}"),
                "not yet valid");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"nbf\":1700000000.5}"),
                "not yet valid");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"nbf\":\"0\"}"), "bad nbf");
    EXPECT_OK(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"nbf\":1700000000}"), id);
    EXPECT_OK(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"nbf\":1600000000}"), id);
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: issuer and audience (JWT_ISSUER, JWT_AUDIENCE) ---- */

#define CLAIMS "\"sub\":\"u1\",\"role\":\"student\""

static void test_iss_aud_unchecked_by_default(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_OK(v, mint_json("{" CLAIMS "}"), id);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":\"anyone\",\"aud\":[\"x\",7]}"), id);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":42,\"aud\":{}}"), id);
    /* "" is the same as unset */
    PL_CHECK(pl_jwt_verifier_expect(v, "", "") == 0);
    EXPECT_OK(v, mint_json("{" CLAIMS "}"), id);
    pl_jwt_verifier_destroy(&v);
}

static void test_issuer(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    PL_CHECK(pl_jwt_verifier_expect(v, "https://idp.example.com/", NULL) == 0);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":\"https://idp.example.com/\"}"), id);
    PL_CHECK_STR(id.user_id, "u1");
    /* the audience stays unchecked */
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":\"https://idp.example.com/\",\"aud\":1}"), id);
    EXPECT_FAIL(v, mint_json("{" CLAIMS "}"), "missing iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":null}"), "missing iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"https://evil.example.com/\"}"), "wrong iss");
    /* compared exactly: no trailing-slash, case or prefix leniency */
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"https://idp.example.com\"}"), "wrong iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"HTTPS://IDP.EXAMPLE.COM/\"}"), "wrong iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"https://idp.example.com/x\"}"), "wrong iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":[\"https://idp.example.com/\"]}"), "wrong iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":7}"), "wrong iss");
    /* the time claims are judged first: an expired token says so */
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"exp\":1}"), "expired");
    /* expectations can be lifted again */
    PL_CHECK(pl_jwt_verifier_expect(v, NULL, NULL) == 0);
    EXPECT_OK(v, mint_json("{" CLAIMS "}"), id);
    pl_jwt_verifier_destroy(&v);
}

static void test_audience(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    PL_CHECK(pl_jwt_verifier_expect(v, NULL, "parley") == 0);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"aud\":\"parley\"}"), id);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"aud\":[\"billing\",\"parley\"]}"), id);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"aud\":[1,null,\"parley\"]}"), id);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"aud\":\"parley\",\"iss\":\"whoever\"}"), id);
    EXPECT_FAIL(v, mint_json("{" CLAIMS "}"), "missing aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":null}"), "missing aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":\"billing\"}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":\"Parley\"}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":\"parley2\"}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":[]}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":[\"billing\",\"parle\"]}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":[[\"parley\"]]}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":{\"parley\":1}}"), "wrong aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":true}"), "wrong aud");
    pl_jwt_verifier_destroy(&v);
}

static void test_issuer_and_audience(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    PL_CHECK(pl_jwt_verifier_expect(v, "idp", "parley") == 0);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":\"idp\",\"aud\":\"parley\"}"), id);
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"aud\":\"parley\"}"), "missing iss");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"idp\"}"), "missing aud");
    EXPECT_FAIL(v, mint_json("{" CLAIMS ",\"iss\":\"other\",\"aud\":\"other\"}"), "wrong iss");
    /* a good iss/aud does not rescue a bad signature: that is judged before any claim */
    jwt_t *j = new_jwt();
    if (jwt_add_grants_json(j, "{" CLAIMS ",\"iss\":\"idp\",\"aud\":\"parley\"}") != 0)
        abort();
    EXPECT_FAIL(v, sign(j, JWT_ALG_HS256, OTHER_SECRET, strlen(OTHER_SECRET)), "bad signature");
    /* the strings are copied: the caller's may go away */
    char *iss = strdup("idp2"), *aud = strdup("aud2");
    PL_CHECK(iss && aud);
    PL_CHECK(pl_jwt_verifier_expect(v, iss, aud) == 0);
    memset(iss, 'x', 4);
    memset(aud, 'x', 4);
    free(iss);
    free(aud);
    EXPECT_OK(v, mint_json("{" CLAIMS ",\"iss\":\"idp2\",\"aud\":[\"aud2\"]}"), id);
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: sub, role, name ---- */

static void test_missing_sub(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_hs(NULL, "student", "x", 0), "missing sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":null,\"role\":\"student\"}"), "missing sub");
    pl_jwt_verifier_destroy(&v);
}

static void test_empty_sub(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_hs("", "student", NULL, 0), "missing sub");
    pl_jwt_verifier_destroy(&v);
}

static void test_sub_length(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    char sub[PL_USER_ID_MAX + 2];
    memset(sub, 'x', PL_USER_ID_MAX + 1);
    sub[PL_USER_ID_MAX + 1] = '\0';
    EXPECT_FAIL(v, mint_hs(sub, "student", NULL, 0), "bad sub");
    sub[PL_USER_ID_MAX] = '\0';
    EXPECT_OK(v, mint_hs(sub, "student", NULL, 0), id);
    PL_CHECK(strlen(id.user_id) == PL_USER_ID_MAX);
    pl_jwt_verifier_destroy(&v);
}

static void test_sub_control_char(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    EXPECT_FAIL(v, mint_hs("alice\nadmin", "student", NULL, 0), "bad sub");
    EXPECT_FAIL(v, mint_hs("a\tb", "student", NULL, 0), "bad sub");
    EXPECT_FAIL(v, mint_hs("a\x7f", "student", NULL, 0), "bad sub");
    EXPECT_FAIL(v, mint_hs("a\xc2\x85", "student", NULL, 0), "bad sub"); /* U+0085 NEL */
    EXPECT_FAIL(v, mint_json("{\"sub\":\"a\\u001bb\",\"role\":\"student\"}"), "bad sub");
    /* Non-ASCII letters are fine. */
    EXPECT_OK(v, mint_hs("j\xc3\xbcrgen", "student", NULL, 0), id);
    PL_CHECK_STR(id.user_id, "j\xc3\xbcrgen");
    pl_jwt_verifier_destroy(&v);
}

static void test_sub_bad_types(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_json("{\"sub\":-1,\"role\":\"student\"}"), "bad sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":42.5,\"role\":\"student\"}"), "bad sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":42.0,\"role\":\"student\"}"), "bad sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":true,\"role\":\"student\"}"), "bad sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":{\"id\":1},\"role\":\"student\"}"), "bad sub");
    EXPECT_FAIL(v, mint_json("{\"sub\":[\"u1\"],\"role\":\"student\"}"), "bad sub");
    pl_jwt_verifier_destroy(&v);
}

static void test_missing_role(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_hs("u1", NULL, "x", 0), "missing role");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":null}"), "missing role");
    pl_jwt_verifier_destroy(&v);
}

static void test_unknown_role(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    EXPECT_FAIL(v, mint_hs("u1", "superuser", NULL, 0), "bad role");
    EXPECT_FAIL(v, mint_hs("u1", "Admin", NULL, 0), "bad role");
    EXPECT_FAIL(v, mint_hs("u1", "", NULL, 0), "bad role");
    EXPECT_FAIL(v, mint_hs("u1", "admin ", NULL, 0), "bad role");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":3}"), "bad role");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":[\"admin\"]}"), "bad role");
    pl_jwt_verifier_destroy(&v);
}

static void test_name(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    char name[PL_NAME_MAX + 80];

    /* 127 ASCII bytes then a 2-byte character: it does not fit and is dropped whole. */
    memset(name, 'a', PL_NAME_MAX - 1);
    strcpy(name + PL_NAME_MAX - 1, "\xc3\xa9xyz");
    EXPECT_OK(v, mint_hs("u1", "student", name, 0), id);
    PL_CHECK(strlen(id.name) == PL_NAME_MAX - 1);
    PL_CHECK(strncmp(id.name, name, PL_NAME_MAX - 1) == 0);

    /* Plain overlong ASCII is cut at exactly PL_NAME_MAX. */
    memset(name, 'b', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    EXPECT_OK(v, mint_hs("u1", "student", name, 0), id);
    PL_CHECK(strlen(id.name) == PL_NAME_MAX);

    /* A name of exactly PL_NAME_MAX bytes ending in a 3-byte character is kept. */
    memset(name, 'c', PL_NAME_MAX - 3);
    strcpy(name + PL_NAME_MAX - 3, "\xe2\x82\xac");
    EXPECT_OK(v, mint_hs("u1", "student", name, 0), id);
    PL_CHECK_STR(id.name, name);

    EXPECT_OK(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"name\":null}"), id);
    PL_CHECK_STR(id.name, "");
    EXPECT_FAIL(v, mint_json("{\"sub\":\"u1\",\"role\":\"student\",\"name\":5}"), "bad name");
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: size and shape ---- */

static void test_token_length(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    /* Find a padding claim that makes the token exactly PL_TOKEN_MAX bytes long. */
    size_t padlen = PL_TOKEN_MAX * 3 / 4 - 200;
    char *pad = malloc(PL_TOKEN_MAX);
    PL_CHECK(pad != NULL);
    char *exact = NULL;
    for (; padlen < PL_TOKEN_MAX * 3 / 4 && !exact; padlen++) {
        memset(pad, 'p', padlen);
        pad[padlen] = '\0';
        jwt_t *j = new_jwt();
        if (jwt_add_grant(j, "pad", pad) != 0)
            abort();
        if (jwt_add_grant(j, "sub", "u1") != 0 || jwt_add_grant(j, "role", "mentor") != 0)
            abort();
        char *tok = sign(j, JWT_ALG_HS256, SECRET, strlen(SECRET));
        if (strlen(tok) == PL_TOKEN_MAX)
            exact = tok;
        else
            free(tok);
    }
    PL_CHECK(exact != NULL);
    if (exact)
        EXPECT_OK(v, exact, id);

    memset(pad, 'p', PL_TOKEN_MAX - 1);
    pad[PL_TOKEN_MAX - 1] = '\0';
    EXPECT_FAIL(v, mint_hs("u1", "student", pad, 0), "token too long");
    free(pad);

    /* Rejected unread: a run of bytes with no JWT structure at all. */
    char *junk = malloc(PL_TOKEN_MAX + 2);
    PL_CHECK(junk != NULL);
    memset(junk, '.', PL_TOKEN_MAX + 1);
    junk[PL_TOKEN_MAX + 1] = '\0';
    EXPECT_FAIL(v, junk, "token too long");
    pl_jwt_verifier_destroy(&v);
}

static void test_empty_token(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    char err[64] = "";
    PL_CHECK(pl_jwt_verify(v, "", NOW, &id, err, sizeof err) == -1);
    PL_CHECK_STR(err, "empty token");
    err[0] = '\0';
    PL_CHECK(pl_jwt_verify(v, NULL, NOW, &id, err, sizeof err) == -1);
    PL_CHECK_STR(err, "empty token");
    pl_jwt_verifier_destroy(&v);
}

static void test_malformed(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    const char *claims = "{\"sub\":\"u1\",\"role\":\"admin\"}";

    /* Two and four segments around an otherwise valid token. */
    char *good = craft_hs(claims);
    char *two = strdup(good);
    PL_CHECK(two != NULL);
    *strrchr(two, '.') = '\0';
    EXPECT_FAIL(v, two, "malformed token");
    size_t n = strlen(good) + 6;
    char *four = malloc(n);
    PL_CHECK(four != NULL);
    snprintf(four, n, "%s.AAAA", good);
    EXPECT_FAIL(v, four, "malformed token");
    four = malloc(n);
    PL_CHECK(four != NULL);
    snprintf(four, n, "%s.", good);
    EXPECT_FAIL(v, four, "malformed token");
    char *ws = malloc(n);
    PL_CHECK(ws != NULL);
    snprintf(ws, n, "%s\n", good);
    EXPECT_FAIL(v, ws, "malformed token");
    ws = malloc(n);
    PL_CHECK(ws != NULL);
    snprintf(ws, n, " %s", good);
    EXPECT_FAIL(v, ws, "malformed token");
    free(good);

    /* Header or payload that is not JSON, or not an object, under a valid HMAC. */
    EXPECT_FAIL(v, craft("not json", claims, NULL), "malformed token");
    EXPECT_FAIL(v, craft("[\"HS256\"]", claims, NULL), "malformed token");
    EXPECT_FAIL(v, craft_hs("not json"), "malformed token");
    EXPECT_FAIL(v, craft_hs("[1,2]"), "malformed token");
    EXPECT_FAIL(v, craft_hs("\"u1\""), "malformed token");
    EXPECT_FAIL(v, craft_hs("{\"sub\":\"u1\",\"role\":\"admin\"} x"), "malformed token");
    EXPECT_FAIL(v, craft_hs("{\"sub\":\"u\xff\",\"role\":\"admin\"}"), "malformed token");
    EXPECT_FAIL(v, craft_hs("{\"sub\":\"a\\u0000b\",\"role\":\"admin\"}"), "malformed token");
    EXPECT_FAIL(v, craft_hs("{\"sub\":\"u1\",\"role\":\"student\",\"role\":\"admin\"}"),
                "malformed token");
    EXPECT_FAIL(v, craft_hs("{\"sub\":99999999999999999999,\"role\":\"admin\"}"),
                "malformed token");

    /* Empty segments and bad base64url. */
    EXPECT_FAIL(v, strdup(".."), "malformed token");
    EXPECT_FAIL(v, strdup("..sig"), "malformed token");
    EXPECT_FAIL(v, strdup("eyJhbGciOiJIUzI1NiJ9..c2ln"), "malformed token");
    EXPECT_FAIL(v, strdup("eyJhbGciOiJIUzI1NiJ9.e30*.c2ln"), "malformed token");
    EXPECT_FAIL(v, strdup("eyJhbGciOiJIUzI1NiJ9.e30=.c2ln"), "malformed token");
    EXPECT_FAIL(v, strdup("eyJhbGciOiJIUzI1NiJ9.e30.c2ln+/"), "malformed token");
    EXPECT_FAIL(v, strdup("eyJhbGciOiJIUzI1NiJ9A.e30.c2ln"), "malformed token"); /* len%4==1 */

    /* Non-canonical base64url: the unused low bits of the last character are set. The
       text is validly signed and decodes to the same JSON with a lax decoder. */
    char *h = b64url_str(HS_HEADER), *p = b64url_str("{\"sub\":\"u12\",\"role\":\"admin\"}");
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    PL_CHECK(strlen(p) % 4 != 0);
    char *last = p + strlen(p) - 1;
    *last = abc[strchr(abc, *last) - abc + 1];
    EXPECT_FAIL(v, craft_raw(h, p, NULL), "malformed token");
    free(h);
    free(p);
    EXPECT_FAIL(v, strdup("no-dots-at-all"), "malformed token");
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: RS256 / ES256 ---- */

static pl_jwt_verifier_t *pem_verifier(const char *alg, const keypair_t *kp)
{
    pl_jwt_verifier_t *v =
        pl_jwt_verifier_new(alg, (const unsigned char *)kp->pub, strlen(kp->pub));
    if (!v)
        abort();
    return v;
}

static void test_rs256_good(void)
{
    const keypair_t *kp = rsa();
    pl_jwt_verifier_t *v = pem_verifier("RS256", kp);
    pl_identity_t id;
    EXPECT_OK(v, mint(JWT_ALG_RS256, kp->priv, strlen(kp->priv), "r1", "admin", "R", NOW + 60), id);
    PL_CHECK_STR(id.user_id, "r1");
    PL_CHECK(id.role == PL_ROLE_ADMIN);
    PL_CHECK(id.exp == NOW + 60);

    char *tok = mint(JWT_ALG_RS256, kp->priv, strlen(kp->priv), "r1", "student", NULL, 0);
    char *dot = strrchr(tok, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    EXPECT_FAIL(v, tok, "bad signature");
    EXPECT_FAIL(v, mint(JWT_ALG_RS512, kp->priv, strlen(kp->priv), "r1", "admin", NULL, 0),
                "algorithm not allowed");
    pl_jwt_verifier_destroy(&v);
}

static void test_rs256_key_confusion(void)
{
    /* The attacker signs HS256 with our public key, which is public, as the secret. */
    const keypair_t *kp = rsa();
    pl_jwt_verifier_t *v = pem_verifier("RS256", kp);
    char *tok = mint(JWT_ALG_HS256, kp->pub, strlen(kp->pub), "r1", "admin", NULL, 0);
    /* libjwt 1.10 alone falls for it. */
    jwt_t *j = NULL;
    PL_CHECK(jwt_decode(&j, tok, (const unsigned char *)kp->pub, (int)strlen(kp->pub)) == 0);
    jwt_free(j);
    EXPECT_FAIL(v, tok, "algorithm not allowed");
    /* And an RS256 verifier never takes an unsigned token. */
    EXPECT_FAIL(v, craft("{\"alg\":\"none\"}", "{\"sub\":\"r1\",\"role\":\"admin\"}", ""),
                "algorithm not allowed");
    pl_jwt_verifier_destroy(&v);
}

static void test_es256(void)
{
    const keypair_t *ekp = ec(), *rkp = rsa();
    pl_jwt_verifier_t *v = pem_verifier("ES256", ekp);
    pl_identity_t id;
    EXPECT_OK(v, mint(JWT_ALG_ES256, ekp->priv, strlen(ekp->priv), "e1", "mentor", NULL, 0), id);
    PL_CHECK_STR(id.user_id, "e1");
    PL_CHECK(id.role == PL_ROLE_MENTOR);
    EXPECT_FAIL(v, mint(JWT_ALG_RS256, rkp->priv, strlen(rkp->priv), "e1", "admin", NULL, 0),
                "algorithm not allowed");
    EXPECT_FAIL(v, mint(JWT_ALG_HS256, ekp->pub, strlen(ekp->pub), "e1", "admin", NULL, 0),
                "algorithm not allowed");
    pl_jwt_verifier_destroy(&v);

    /* The right alg with an unusable key (an RSA key for ES256): libjwt fails and that
       reads as a bad signature. */
    v = pem_verifier("ES256", rkp);
    EXPECT_FAIL(v, mint(JWT_ALG_ES256, ekp->priv, strlen(ekp->priv), "e1", "mentor", NULL, 0),
                "bad signature");
    pl_jwt_verifier_destroy(&v);
}

/* ---- cases: constructor, roles, err buffer ---- */

static void test_verifier_new(void)
{
    const unsigned char *k = (const unsigned char *)SECRET;
    PL_CHECK(pl_jwt_verifier_new("HS512", k, 10) == NULL);
    PL_CHECK(pl_jwt_verifier_new("none", k, 10) == NULL);
    PL_CHECK(pl_jwt_verifier_new("hs256", k, 10) == NULL);
    PL_CHECK(pl_jwt_verifier_new("", k, 10) == NULL);
    PL_CHECK(pl_jwt_verifier_new(NULL, k, 10) == NULL);
    PL_CHECK(pl_jwt_verifier_new("HS256", k, 0) == NULL);
    PL_CHECK(pl_jwt_verifier_new("HS256", NULL, 10) == NULL);

    pl_jwt_verifier_t *v = pl_jwt_verifier_new("ES256", k, 10);
    PL_CHECK(v != NULL);
    pl_jwt_verifier_destroy(&v);
    PL_CHECK(v == NULL);
    pl_jwt_verifier_destroy(&v); /* NULL-safe */
    pl_jwt_verifier_destroy(NULL);

    /* The key is copied: the caller's buffer may go away. */
    char *secret = strdup(SECRET);
    PL_CHECK(secret != NULL);
    v = pl_jwt_verifier_new("HS256", (const unsigned char *)secret, strlen(secret));
    PL_CHECK(v != NULL);
    memset(secret, 0, strlen(SECRET));
    free(secret);
    pl_identity_t id;
    EXPECT_OK(v, mint_hs("u1", "student", NULL, 0), id);
    pl_jwt_verifier_destroy(&v);
}

static void test_roles(void)
{
    PL_CHECK_STR(pl_role_name(PL_ROLE_STUDENT), "student");
    PL_CHECK_STR(pl_role_name(PL_ROLE_MENTOR), "mentor");
    PL_CHECK_STR(pl_role_name(PL_ROLE_ADMIN), "admin");
    PL_CHECK_STR(pl_role_name(PL_ROLE_NONE), "none");
    PL_CHECK_STR(pl_role_name((pl_role_t)99), "none");

    PL_CHECK(pl_role_parse("student", 7) == PL_ROLE_STUDENT);
    PL_CHECK(pl_role_parse("user", 4) == PL_ROLE_STUDENT);
    PL_CHECK(pl_role_parse("mentor", 6) == PL_ROLE_MENTOR);
    PL_CHECK(pl_role_parse("admin", 5) == PL_ROLE_ADMIN);
    PL_CHECK(pl_role_parse("adminXYZ", 5) == PL_ROLE_ADMIN); /* length-delimited */
    PL_CHECK(pl_role_parse("admin", 4) == PL_ROLE_NONE);
    PL_CHECK(pl_role_parse("admin", 6) == PL_ROLE_NONE); /* includes the NUL */
    PL_CHECK(pl_role_parse("ADMIN", 5) == PL_ROLE_NONE);
    PL_CHECK(pl_role_parse("none", 4) == PL_ROLE_NONE);
    PL_CHECK(pl_role_parse("", 0) == PL_ROLE_NONE);
    PL_CHECK(pl_role_parse(NULL, 5) == PL_ROLE_NONE);
}

static void test_err_buffer(void)
{
    pl_jwt_verifier_t *v = hs_verifier();
    pl_identity_t id;
    char *tok = mint_hs("u1", "student", NULL, NOW - 10);
    char small[4] = "zzz";
    PL_CHECK(pl_jwt_verify(v, tok, NOW, &id, small, sizeof small) == -1);
    PL_CHECK_STR(small, "exp"); /* truncated, still terminated */
    PL_CHECK(pl_jwt_verify(v, tok, NOW, &id, NULL, 0) == -1);
    small[0] = 'q';
    PL_CHECK(pl_jwt_verify(v, tok, NOW, &id, small, 0) == -1);
    PL_CHECK(small[0] == 'q');
    /* The same token is good an hour earlier: the clock is the caller's. */
    PL_CHECK(pl_jwt_verify(v, tok, NOW - 3600, &id, small, sizeof small) == 0);
    free(tok);
    pl_jwt_verifier_destroy(&v);
}

PL_TEST_MAIN_AROUND(pl_test_nothing_, free_keys,
                    PL_CASE(good_string_sub),
                    PL_CASE(good_numeric_sub),
                    PL_CASE(good_roles),
                    PL_CASE(crafted_token_is_valid),
                    PL_CASE(bad_signature),
                    PL_CASE(tampered_payload),
                    PL_CASE(alg_none),
                    PL_CASE(wrong_alg),
                    PL_CASE(header_fields),
                    PL_CASE(expired),
                    PL_CASE(exp_future),
                    PL_CASE(exp_not_number),
                    PL_CASE(nbf),
                    PL_CASE(iss_aud_unchecked_by_default),
                    PL_CASE(issuer),
                    PL_CASE(audience),
                    PL_CASE(issuer_and_audience),
                    PL_CASE(missing_sub),
                    PL_CASE(empty_sub),
                    PL_CASE(sub_length),
                    PL_CASE(sub_control_char),
                    PL_CASE(sub_bad_types),
                    PL_CASE(missing_role),
                    PL_CASE(unknown_role),
                    PL_CASE(name),
                    PL_CASE(token_length),
                    PL_CASE(empty_token),
                    PL_CASE(malformed),
                    PL_CASE(rs256_good),
                    PL_CASE(rs256_key_confusion),
                    PL_CASE(es256),
                    PL_CASE(verifier_new),
                    PL_CASE(roles),
                    PL_CASE(err_buffer))

/*  hooks_sign: the wire form of a webhook — body, signature, retry delay. Pure
    functions, so the unit test checks them against fixed vectors. */
#include "hooks.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static int plain(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= max;
}

int hooks_body(pl_buf_t *out, const char *id, const char *type, const char *created_at,
               const char *data)
{
    /* id and type are ours (the outbox's default and the services' constants) but
       are checked anyway: they go into JSON unescaped. created_at is to_char's. */
    if (!plain(id, HOOKS_EVENT_ID_MAX) || !plain(type, HOOKS_TYPE_MAX))
        return -1;
    for (const char *c = created_at; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return -1;
    pl_buf_reset(out);
    if (pl_buf_printf(out, "{\"id\":\"%s\",\"type\":\"%s\",\"created_at\":\"%s\",\"data\":", id,
                      type, created_at) ||
        pl_buf_puts(out, data) || pl_buf_putc(out, '}'))
        return -1;
    return 0;
}

int hooks_sign(const char *secret, int64_t unix_s, const char *body, size_t len, char *out,
               size_t cap)
{
    char t[24];
    int tn = snprintf(t, sizeof t, "%lld", (long long)unix_s);
    if (tn <= 0 || (size_t)tn >= sizeof t)
        return -1;
    /* HMAC over t "." body without copying the body: the streaming interface. */
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)t, (size_t)tn) &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
             EVP_MAC_update(ctx, (const unsigned char *)body, len) &&
             EVP_MAC_final(ctx, mac, &outl, sizeof mac);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    maclen = (unsigned int)outl;
    if (!ok || maclen != 32)
        return -1;
    int n = snprintf(out, cap, "t=%s,v1=", t);
    if (n < 0 || (size_t)n + 2 * maclen + 1 > cap)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < maclen; i++) {
        out[n++] = hex[mac[i] >> 4];
        out[n++] = hex[mac[i] & 15];
    }
    out[n] = '\0';
    return 0;
}

int64_t hooks_backoff_ms(const hooks_cfg_t *cfg, int64_t attempts, double rnd)
{
    int64_t d = cfg->backoff_base_ms;
    for (int64_t i = 1; i < attempts && d < cfg->backoff_max_ms; i++)
        d *= 2;
    if (d > cfg->backoff_max_ms)
        d = cfg->backoff_max_ms;
    /* "equal jitter": never less than half the delay, so retries of many events that
       failed together spread out without any of them coming back at once. */
    return d / 2 + (int64_t)((double)(d - d / 2) * rnd);
}

/*  bench_token: HS256 JWT minting with OpenSSL (see bench_token.h). */
#include "bench_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

/* base64url without padding; returns chars written or -1 when out is too small. */
static int b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t need = (n * 4 + 2) / 3;
    if (need + 1 > cap)
        return -1;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

int bench_token_mint(const char *secret, const char *sub, const char *role, int64_t iat,
                     int64_t exp, char *out, size_t cap)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char payload[512];
    int pn = snprintf(payload, sizeof payload,
                      "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub, role,
                      (long long)iat, (long long)exp);
    if (pn < 0 || (size_t)pn >= sizeof payload)
        return -1;

    int h = b64url((const unsigned char *)header, sizeof header - 1, out, cap);
    if (h < 0 || (size_t)h + 1 >= cap)
        return -1;
    out[h] = '.';
    int p = b64url((const unsigned char *)payload, (size_t)pn, out + h + 1, cap - (size_t)h - 1);
    if (p < 0)
        return -1;
    size_t signed_len = (size_t)h + 1 + (size_t)p;

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, signed_len,
              mac, &maclen))
        return -1;
    if (signed_len + 1 >= cap)
        return -1;
    out[signed_len] = '.';
    int s = b64url(mac, maclen, out + signed_len + 1, cap - signed_len - 1);
    if (s < 0)
        return -1;
    return (int)(signed_len + 1 + (size_t)s);
}

/*  pl_text: see pl_text.h. */
#include "pl_text.h"

/* Length (1..4) of the well-formed UTF-8 sequence at p, or 0 if it is ill-formed, in
   which case *bad is the length of its maximal ill-formed prefix (>= 1): the bytes one
   U+FFFD replaces, as the Unicode standard recommends. Following its Table 3-7, the
   allowed range of the second byte depends on the lead byte; that is what rules out
   overlongs (C0, C1, E0 80..9F, F0 80..8F), UTF-8-encoded surrogates (ED A0..BF) and
   code points above U+10FFFF (F4 90.., F5..FF). */
size_t pl_utf8_seq(const unsigned char *p, const unsigned char *end, size_t *bad)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t avail = (size_t)(end - p);
    for (size_t i = 1; i < n; i++) {
        if (i >= avail || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80; /* only the second byte has a lead-dependent range */
        hi = 0xBF;
    }
    return n;
}

long pl_utf8_count(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    long n = 0;
    while (p < end) {
        if (*p < 0x80) {
            p++;
        } else {
            size_t bad, k = pl_utf8_seq(p, end, &bad);
            if (!k)
                return -1;
            p += k;
        }
        n++;
    }
    return n;
}

size_t pl_utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    size_t bad, n = pl_utf8_seq(p, end, &bad);
    if (n == 0)
        return 0;
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t c = p[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++)
        c = (c << 6) | (p[i] & 0x3F);
    *cp = c;
    return n;
}

int pl_text_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

int pl_user_id_valid(const char *s, size_t n)
{
    return n >= 1 && n <= 128 && !pl_text_has_control(s, n);
}

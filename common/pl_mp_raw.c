/*  pl_mp_raw: MessagePack bytes read in place (see pl_mp_raw.h). */
#include "pl_mp_raw.h"

#include <stdint.h>
#include <string.h>

/* The n-byte big-endian length at p, if the n bytes are there. */
static int be_len(const unsigned char *p, size_t avail, size_t n, uint64_t *out)
{
    if (avail < n)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    *out = v;
    return 0;
}

/* One object's header at p: its size (*hdr, the type byte and any length field), the
   bytes of payload after it (*body) and how many objects it contains (*kids). */
typedef struct {
    size_t hdr;
    uint64_t body, kids;
} head_t;

/* Formats with a length field: its width, and whether it counts bytes (str, bin,
   ext: +1 type byte for ext), array elements or map pairs. */
static int sized_head(unsigned char t, const unsigned char *p, size_t avail, head_t *h)
{
    static const struct {
        unsigned char t, width, kind; /* kind: 0 bytes, 1 ext, 2 array, 3 map */
    } sized[] = {
        {0xc4, 1, 0}, {0xc5, 2, 0}, {0xc6, 4, 0}, {0xc7, 1, 1}, {0xc8, 2, 1}, {0xc9, 4, 1},
        {0xd9, 1, 0}, {0xda, 2, 0}, {0xdb, 4, 0}, {0xdc, 2, 2}, {0xdd, 4, 2}, {0xde, 2, 3},
        {0xdf, 4, 3},
    };
    for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
        if (sized[i].t != t)
            continue;
        uint64_t n;
        if (be_len(p + 1, avail - 1, sized[i].width, &n) != 0)
            return -1;
        h->hdr = 1u + sized[i].width;
        h->body = sized[i].kind == 0 ? n : sized[i].kind == 1 ? n + 1 : 0;
        h->kids = sized[i].kind == 2 ? n : sized[i].kind == 3 ? 2 * n : 0;
        return 0;
    }
    return -1;
}

static int read_head(const unsigned char *p, size_t avail, head_t *h)
{
    if (avail == 0)
        return -1;
    unsigned char t = p[0];
    h->hdr = 1;
    h->body = h->kids = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 0; /* fixint, nil, bool */
    if (t <= 0x8f)
        h->kids = 2u * (t & 0x0fu); /* fixmap */
    else if (t <= 0x9f)
        h->kids = t & 0x0fu; /* fixarray */
    else if (t <= 0xbf)
        h->body = t & 0x1fu; /* fixstr */
    else if (t == 0xca || t == 0xcb)
        h->body = t == 0xca ? 4 : 8; /* float32, float64 */
    else if (t >= 0xcc && t <= 0xd3)
        h->body = 1u << ((t - 0xcc) & 3); /* uint8..64, int8..64 */
    else if (t >= 0xd4 && t <= 0xd8)
        h->body = 1u + (1u << (t - 0xd4)); /* fixext: type byte + 1..16 */
    else
        return sized_head(t, p, avail, h); /* 0xc1 (never used) fails there */
    return 0;
}

int pl_mp_raw_skip(const char *buf, size_t len, size_t *off)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t left = 1; /* objects still to pass, nested ones included */
    size_t at = *off;
    while (left > 0) {
        head_t h;
        if (at > len || read_head(p + at, len - at, &h) != 0)
            return -1;
        at += h.hdr;
        if (h.body > len - at)
            return -1;
        at += (size_t)h.body;
        /* every object takes at least one byte: more than are left cannot fit */
        if (h.kids > len - at)
            return -1;
        left = left - 1 + h.kids;
    }
    *off = at;
    return 0;
}

int pl_mp_raw_enter(const char *buf, size_t len, size_t *off)
{
    head_t h;
    if (!buf || *off >= len || read_head((const unsigned char *)buf + *off, len - *off, &h) != 0)
        return -1;
    unsigned char t = (unsigned char)buf[*off];
    int container = (t >= 0x80 && t <= 0x9f) || (t >= 0xdc && t <= 0xdf);
    if (!container)
        return -1;
    *off += h.hdr;
    return 0;
}

/* The map header at buf[0]: its member count, and *off past it. */
static int map_head(const char *buf, size_t len, size_t *off, uint64_t *n)
{
    head_t h;
    unsigned char t = len ? (unsigned char)buf[0] : 0;
    if (!((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) ||
        read_head((const unsigned char *)buf, len, &h) != 0)
        return -1;
    *off = h.hdr;
    *n = h.kids / 2;
    return 0;
}

/* Whether the object buf[0..n) is a str equal to one of drop[]. */
static int dropped(const char *buf, size_t n, const char *const *drop, size_t ndrop)
{
    unsigned char t = (unsigned char)buf[0];
    if (!((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb)))
        return 0;
    head_t h;
    if (read_head((const unsigned char *)buf, n, &h) != 0 || h.hdr + h.body != n)
        return 0;
    for (size_t i = 0; i < ndrop; i++)
        if (strlen(drop[i]) == h.body && memcmp(buf + h.hdr, drop[i], h.body) == 0)
            return 1;
    return 0;
}

int pl_mp_raw_map_without(const char *buf, size_t len, const char *const *drop, size_t ndrop,
                          msgpack_sbuffer *out)
{
    size_t first, off;
    uint64_t n, keep = 0;
    if (!buf || map_head(buf, len, &first, &n) != 0)
        return -1;
    /* Pass 1: check the whole map and count what stays (the header comes first). */
    off = first;
    for (uint64_t i = 0; i < n; i++) {
        size_t key = off;
        if (pl_mp_raw_skip(buf, len, &off) != 0)
            return -1;
        keep += !dropped(buf + key, off - key, drop, ndrop);
        if (pl_mp_raw_skip(buf, len, &off) != 0)
            return -1;
    }
    if (off != len)
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, (size_t)keep) != 0)
        return -1;
    /* Pass 2: copy the runs of kept members between the dropped ones. */
    size_t run = first;
    off = first;
    for (uint64_t i = 0; i < n; i++) {
        size_t key = off;
        if (pl_mp_raw_skip(buf, len, &off) != 0) /* cannot fail: pass 1 read the same */
            return -1;
        int drop_it = dropped(buf + key, off - key, drop, ndrop);
        if (pl_mp_raw_skip(buf, len, &off) != 0)
            return -1;
        if (drop_it) {
            if (key > run && msgpack_sbuffer_write(out, buf + run, key - run) != 0)
                return -1;
            run = off;
        }
    }
    if (len > run && msgpack_sbuffer_write(out, buf + run, len - run) != 0)
        return -1;
    return 0;
}

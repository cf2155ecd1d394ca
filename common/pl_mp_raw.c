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

/* A length field of `width` bytes after the type byte, counting payload bytes (plus
   `extra`: an ext's type byte) or contained objects (`per` each: 1 array, 2 map). */
static int sized(const unsigned char *p, size_t avail, size_t width, uint64_t extra, int per,
                 head_t *h)
{
    uint64_t n;
    if (be_len(p + 1, avail - 1, width, &n) != 0)
        return -1;
    h->hdr = 1 + width;
    if (per)
        h->kids = (uint64_t)per * n;
    else
        h->body = n + extra;
    return 0;
}

static int read_head(const unsigned char *p, size_t avail, head_t *h)
{
    if (avail == 0)
        return -1;
    unsigned char t = p[0];
    h->hdr = 1;
    h->body = h->kids = 0;
    if (t <= 0x7f || t >= 0xe0)
        return 0; /* fixint */
    if (t <= 0x8f) {
        h->kids = 2u * (t & 0x0fu); /* fixmap */
        return 0;
    }
    if (t <= 0x9f) {
        h->kids = t & 0x0fu; /* fixarray */
        return 0;
    }
    if (t <= 0xbf) {
        h->body = t & 0x1fu; /* fixstr */
        return 0;
    }
    switch (t) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
        return 0; /* nil, false, true */
    case 0xc4:
        return sized(p, avail, 1, 0, 0, h); /* bin8 */
    case 0xc5:
        return sized(p, avail, 2, 0, 0, h);
    case 0xc6:
        return sized(p, avail, 4, 0, 0, h);
    case 0xc7:
        return sized(p, avail, 1, 1, 0, h); /* ext8: + type byte */
    case 0xc8:
        return sized(p, avail, 2, 1, 0, h);
    case 0xc9:
        return sized(p, avail, 4, 1, 0, h);
    case 0xca:
        h->body = 4;
        return 0; /* float32 */
    case 0xcb:
        h->body = 8;
        return 0; /* float64 */
    case 0xcc:
    case 0xd0:
        h->body = 1;
        return 0; /* uint8, int8 */
    case 0xcd:
    case 0xd1:
        h->body = 2;
        return 0;
    case 0xce:
    case 0xd2:
        h->body = 4;
        return 0;
    case 0xcf:
    case 0xd3:
        h->body = 8;
        return 0;
    case 0xd4:
        h->body = 2;
        return 0; /* fixext1: type byte + 1 */
    case 0xd5:
        h->body = 3;
        return 0;
    case 0xd6:
        h->body = 5;
        return 0;
    case 0xd7:
        h->body = 9;
        return 0;
    case 0xd8:
        h->body = 17;
        return 0;
    case 0xd9:
        return sized(p, avail, 1, 0, 0, h); /* str8 */
    case 0xda:
        return sized(p, avail, 2, 0, 0, h);
    case 0xdb:
        return sized(p, avail, 4, 0, 0, h);
    case 0xdc:
        return sized(p, avail, 2, 0, 1, h); /* array16 */
    case 0xdd:
        return sized(p, avail, 4, 0, 1, h);
    case 0xde:
        return sized(p, avail, 2, 0, 2, h); /* map16 */
    case 0xdf:
        return sized(p, avail, 4, 0, 2, h);
    default:
        return -1; /* 0xc1: never used */
    }
}

int pl_mp_raw_skip(const char *buf, size_t len, size_t *off)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t left = 1; /* objects still to pass, nested ones included */
    size_t at = *off;
    /* Most keys and many values are a fixstr or a fixint: no loop for them. */
    if (at < len && (p[at] <= 0x7f || p[at] >= 0xe0)) {
        *off = at + 1;
        return 0;
    }
    if (at < len && p[at] >= 0xa0 && p[at] <= 0xbf) {
        size_t n = 1u + (p[at] & 0x1fu);
        if (n > len - at)
            return -1;
        *off = at + n;
        return 0;
    }
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
    size_t hdr;
    if (t >= 0xa0 && t <= 0xbf)
        hdr = 1;
    else if (t == 0xd9)
        hdr = 2;
    else if (t == 0xda)
        hdr = 3;
    else if (t == 0xdb)
        hdr = 5;
    else
        return 0; /* not a string: kept */
    for (size_t i = 0; i < ndrop; i++) {
        if (n == hdr || buf[hdr] != drop[i][0]) /* the first byte rules most keys out */
            continue;
        size_t k = strlen(drop[i]);
        if (n - hdr == k && memcmp(buf + hdr, drop[i], k) == 0)
            return 1;
    }
    return 0;
}

/* The bytes of a map header for n members, msgpack_pack_map's shortest form. */
static size_t map_head_width(uint64_t n)
{
    return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

static void put_map_head(unsigned char *d, uint64_t n)
{
    size_t w = map_head_width(n);
    if (w == 1) {
        d[0] = (unsigned char)(0x80 | n);
        return;
    }
    d[0] = w == 3 ? 0xde : 0xdf;
    for (size_t i = 1; i < w; i++)
        d[i] = (unsigned char)(n >> (8 * (w - 1 - i)));
}

/* One pass: room for the widest header this map can need (its own count), the kept
   runs copied as they end, then the real header written and the body moved down if
   that header is narrower (only when dropping crosses 16 or 65,536 members). */
int pl_mp_raw_map_without(const char *buf, size_t len, const char *const *drop, size_t ndrop,
                          msgpack_sbuffer *out)
{
    static const char room[5] = {0};
    size_t first, off;
    uint64_t n, keep = 0;
    if (!buf || map_head(buf, len, &first, &n) != 0)
        return -1;
    size_t at = out->size, reserved = map_head_width(n);
    if (msgpack_sbuffer_write(out, room, reserved) != 0)
        return -1;
    size_t run = first;
    off = first;
    for (uint64_t i = 0; i < n; i++) {
        size_t key = off;
        if (pl_mp_raw_skip(buf, len, &off) != 0)
            return -1;
        int drop_it = dropped(buf + key, off - key, drop, ndrop);
        if (pl_mp_raw_skip(buf, len, &off) != 0)
            return -1;
        if (!drop_it) {
            keep++;
            continue;
        }
        if (key > run && msgpack_sbuffer_write(out, buf + run, key - run) != 0)
            return -1;
        run = off;
    }
    if (off != len || (len > run && msgpack_sbuffer_write(out, buf + run, len - run) != 0))
        return -1;
    size_t w = map_head_width(keep);
    unsigned char *d = (unsigned char *)out->data + at;
    if (w < reserved) {
        memmove(d + w, d + reserved, out->size - at - reserved);
        out->size -= reserved - w;
    }
    put_map_head(d, keep);
    return 0;
}

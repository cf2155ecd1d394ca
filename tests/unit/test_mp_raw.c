/*  Unit tests for pl_mp_raw: MessagePack bytes read in place. Every input goes through
    an exact-size heap copy (see dup), so under ASan a read past `len` fails the run;
    the skip is compared with msgpack-c's own unpacker on every format. */
#include <string.h>

#include "pl_mp_raw.h"
#include "pl_test.h"

static char *s_copy;

static const char *dup(const char *s, size_t n)
{
    free(s_copy);
    s_copy = malloc(n ? n : 1);
    if (!s_copy)
        abort();
    memcpy(s_copy, s, n);
    return s_copy;
}

/* pl_mp_raw_skip from 0: the offset it ends at, or (size_t)-1 on failure. */
static size_t skip(const char *s, size_t n)
{
    size_t off = 0;
    return pl_mp_raw_skip(dup(s, n), n, &off) == 0 ? off : (size_t)-1;
}

/* msgpack-c's size for the first object of s[0..n), or (size_t)-1. */
static size_t unpacked_size(const char *s, size_t n)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int ok = msgpack_unpack_next(&up, s, n, &off) == MSGPACK_UNPACK_SUCCESS;
    msgpack_unpacked_destroy(&up);
    return ok ? off : (size_t)-1;
}

/* Every format msgpack-c writes, each followed by a trailing byte the skip must not
   take; each cut one byte short must fail. */
static void test_skip_every_format(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char big[70000];
    memset(big, 'x', sizeof big);
    for (int k = 0; k < 26; k++) {
        msgpack_sbuffer_clear(&sb);
        switch (k) {
        case 0:
            msgpack_pack_nil(&pk);
            break;
        case 1:
            msgpack_pack_true(&pk);
            break;
        case 2:
            msgpack_pack_uint64(&pk, 5);
            break;
        case 3:
            msgpack_pack_uint64(&pk, 200);
            break;
        case 4:
            msgpack_pack_uint64(&pk, 60000);
            break;
        case 5:
            msgpack_pack_uint64(&pk, 4000000000u);
            break;
        case 6:
            msgpack_pack_uint64(&pk, UINT64_MAX);
            break;
        case 7:
            msgpack_pack_int64(&pk, -3);
            break;
        case 8:
            msgpack_pack_int64(&pk, -100);
            break;
        case 9:
            msgpack_pack_int64(&pk, -30000);
            break;
        case 10:
            msgpack_pack_int64(&pk, -2000000000);
            break;
        case 11:
            msgpack_pack_int64(&pk, INT64_MIN);
            break;
        case 12:
            msgpack_pack_float(&pk, 1.5f);
            break;
        case 13:
            msgpack_pack_double(&pk, 2.5);
            break;
        case 14:
            msgpack_pack_str_with_body(&pk, big, 31);
            break;
        case 15:
            msgpack_pack_str_with_body(&pk, big, 200);
            break;
        case 16:
            msgpack_pack_str_with_body(&pk, big, 60000);
            break;
        case 17:
            msgpack_pack_str_with_body(&pk, big, 70000);
            break;
        case 18:
            msgpack_pack_bin_with_body(&pk, big, 10);
            break;
        case 19:
            msgpack_pack_bin_with_body(&pk, big, 300);
            break;
        case 20:
            msgpack_pack_bin_with_body(&pk, big, 70000);
            break;
        case 21:
            msgpack_pack_ext_with_body(&pk, big, 1, 7);
            break; /* fixext1 */
        case 22:
            msgpack_pack_ext_with_body(&pk, big, 16, 7);
            break; /* fixext16 */
        case 23:
            msgpack_pack_ext_with_body(&pk, big, 3, 7);
            break; /* ext8 */
        case 24:
            msgpack_pack_ext_with_body(&pk, big, 300, 7);
            break; /* ext16 */
        default:   /* nested containers: array16 of maps, map16 */
            msgpack_pack_array(&pk, 20);
            for (int i = 0; i < 20; i++) {
                msgpack_pack_map(&pk, 1);
                msgpack_pack_str_with_body(&pk, "k", 1);
                msgpack_pack_array(&pk, 0);
            }
            msgpack_pack_map(&pk, 20);
            for (int i = 0; i < 20; i++) {
                msgpack_pack_int64(&pk, i);
                msgpack_pack_nil(&pk);
            }
            break;
        }
        size_t n = sb.size;
        msgpack_sbuffer_write(&sb, "\xc0", 1); /* one more object after it */
        PL_CHECK(skip(sb.data, sb.size) == unpacked_size(sb.data, sb.size));
        PL_CHECK(skip(sb.data, sb.size) == (k < 25 ? n : unpacked_size(sb.data, n)));
        PL_CHECK(skip(sb.data, n - 1) == (size_t)-1 || k == 25);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_skip_hostile(void)
{
    PL_CHECK(skip("", 0) == (size_t)-1);
    PL_CHECK(skip("\xc1", 1) == (size_t)-1);                 /* never used */
    PL_CHECK(skip("\x92\x01", 2) == (size_t)-1);             /* one element of two */
    PL_CHECK(skip("\xdd\xff\xff\xff\xff", 5) == (size_t)-1); /* 4G elements, no bytes */
    PL_CHECK(skip("\xdf\xff\xff\xff\xff\x01", 6) == (size_t)-1);
    PL_CHECK(skip("\xdb\xff\xff\xff\xff", 5) == (size_t)-1); /* 4 GiB string, no bytes */
    PL_CHECK(skip("\xda\x00", 2) == (size_t)-1);             /* length field cut */
    PL_CHECK(skip("\xd9\x02\x41", 3) == (size_t)-1);         /* string cut */
    PL_CHECK(skip("\xc9\x00\x00\x00\x01", 5) == (size_t)-1); /* ext32: type byte missing */
    /* deep nesting is counted, not recursed: 100,000 levels of [[[…]]] */
    size_t n = 100001;
    char *deep = malloc(n);
    PL_CHECK(deep != NULL);
    if (deep) {
        memset(deep, 0x91, n - 1);
        deep[n - 1] = (char)0xc0;
        PL_CHECK(skip(deep, n) == n);
        PL_CHECK(skip(deep, n - 1) == (size_t)-1);
        free(deep);
    }
    size_t off = 1; /* from an offset */
    PL_CHECK(pl_mp_raw_skip(dup("\xc0\xa1x\xc0", 4), 4, &off) == 0 && off == 3);
    off = 4;
    PL_CHECK(pl_mp_raw_skip(dup("\xc0\xa1x\xc0", 4), 4, &off) == -1);
}

static void test_enter(void)
{
    size_t off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("\x92\x01\x02", 3), 3, &off) == 0 && off == 1);
    off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("\xdc\x00\x02\x01\x02", 5), 5, &off) == 0 && off == 3);
    off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("\xdf\x00\x00\x00\x01", 5), 5, &off) == 0 && off == 5);
    off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("\xa1x", 2), 2, &off) == -1); /* a string */
    off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("\xdc\x00", 2), 2, &off) == -1); /* header cut */
    off = 0;
    PL_CHECK(pl_mp_raw_enter(dup("", 0), 0, &off) == -1);
}

/* map_without over s[0..n), as hex, or "ERR"; W(lit) for a literal's own bytes. */
static char s_hex[256];
static const char *without(const char *s, size_t n)
{
    static const char *const drop[] = {"type", "id"};
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    if (pl_mp_raw_map_without(dup(s, n), n, drop, 2, &out) != 0) {
        snprintf(s_hex, sizeof s_hex, "ERR");
    } else {
        s_hex[0] = '\0';
        for (size_t i = 0; i < out.size && 2 * i + 3 < sizeof s_hex; i++)
            snprintf(s_hex + 2 * i, 3, "%02x", (unsigned char)out.data[i]);
    }
    msgpack_sbuffer_destroy(&out);
    return s_hex;
}
#define W(lit) without(lit, sizeof lit - 1)

static void test_map_without(void)
{
    /* {"type":"x","a":1,"id":2} → {"a":1} */
    PL_CHECK_STR(W("\x83\xa4type\xa1x\xa1\x61\x01\xa2id\x02"), "81a16101");
    /* nothing to drop: the same bytes */
    PL_CHECK_STR(W("\x82\xa1\x61\x01\xa1\x62\x02"), "82a16101a16202");
    /* everything dropped, duplicates too */
    PL_CHECK_STR(W("\x83\xa4type\x01\xa2id\x02\xa4type\x03"), "80");
    PL_CHECK_STR(W("\x80"), "80");
    /* keys that only start like the dropped ones, a str8 "id", a non-string key 1 */
    PL_CHECK_STR(W("\x84\xa3ids\x01\xa3typ\x02\xd9\x02id\x03\x01\x04"), "83a369647301a374797002"
                                                                        "0104");
    /* a map16 header for 16 members, one dropped: a fixmap of 15 */
    char m[64];
    size_t k = 0;
    m[k++] = (char)0xde;
    m[k++] = 0;
    m[k++] = 16;
    m[k++] = (char)0xa2;
    m[k++] = 'i';
    m[k++] = 'd';
    m[k++] = 0;
    for (int i = 1; i < 16; i++) {
        m[k++] = (char)i;
        m[k++] = (char)0xc0;
    }
    PL_CHECK(strncmp(without(m, k), "8f01c002c0", 10) == 0 && strlen(s_hex) == 2 + 15 * 4);
    /* not one whole map */
    PL_CHECK_STR(W("\x91\x01"), "ERR");
    PL_CHECK_STR(W("\x81\xa1x\x01\xc0"), "ERR"); /* trailing bytes */
    PL_CHECK_STR(W("\x82\xa1x\x01"), "ERR");     /* a member missing */
    PL_CHECK_STR(W("\x81\xa1x"), "ERR");         /* a value missing */
    PL_CHECK_STR(W("\xdf\xff\xff\xff\xff"), "ERR");
    PL_CHECK_STR(W(""), "ERR");
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    PL_CHECK(pl_mp_raw_map_without(NULL, 0, NULL, 0, &out) == -1);
    msgpack_sbuffer_destroy(&out);
}

static void done(void)
{
    free(s_copy);
    s_copy = NULL;
}

PL_TEST_MAIN_AROUND(pl_test_nothing_, done, PL_CASE(skip_every_format), PL_CASE(skip_hostile),
                    PL_CASE(enter), PL_CASE(map_without))

/*  Unit tests of pl_text: UTF-8 well-formedness per the Unicode standard's Table 3-7,
    decoding, counting, control characters. */
#include <string.h>

#include "pl_test.h"
#include "pl_text.h"

static size_t seq(const char *s, size_t n, size_t *bad)
{
    return pl_utf8_seq((const unsigned char *)s, (const unsigned char *)s + n, bad);
}

static void test_well_formed_sequences(void)
{
    size_t bad = 0;
    PL_CHECK(seq("A", 1, &bad) == 1);
    PL_CHECK(seq("\xC3\xA9", 2, &bad) == 2);         /* é */
    PL_CHECK(seq("\xE2\x82\xAC", 3, &bad) == 3);     /* € */
    PL_CHECK(seq("\xF0\x9F\x98\x80", 4, &bad) == 4); /* 😀 */
    PL_CHECK(seq("\xF4\x8F\xBF\xBF", 4, &bad) == 4); /* U+10FFFF */
}

static void test_ill_formed_sequences(void)
{
    size_t bad = 0;
    PL_CHECK(seq("\xC0\xAF", 2, &bad) == 0 && bad == 1);           /* overlong '/' */
    PL_CHECK(seq("\xE0\x80\xAF", 3, &bad) == 0 && bad == 1);       /* overlong */
    PL_CHECK(seq("\xED\xA0\x80", 3, &bad) == 0 && bad == 1);       /* surrogate D800 */
    PL_CHECK(seq("\xF4\x90\x80\x80", 4, &bad) == 0 && bad == 1);   /* past U+10FFFF */
    PL_CHECK(seq("\xE2\x82", 2, &bad) == 0 && bad == 2);           /* truncated */
    PL_CHECK(seq("\x80", 1, &bad) == 0 && bad == 1);               /* lone continuation */
    PL_CHECK(seq("\xFF", 1, &bad) == 0 && bad == 1);
}

static void test_decode(void)
{
    const unsigned char *s = (const unsigned char *)"\xF0\x9F\x98\x80";
    uint32_t cp = 0;
    PL_CHECK(pl_utf8_next(s, s + 4, &cp) == 4 && cp == 0x1F600);
    s = (const unsigned char *)"\xC2\x85"; /* NEL, a C1 control */
    PL_CHECK(pl_utf8_next(s, s + 2, &cp) == 2 && cp == 0x85);
    s = (const unsigned char *)"\xED\xBF\xBF";
    PL_CHECK(pl_utf8_next(s, s + 3, &cp) == 0);
}

static void test_count_and_controls(void)
{
    PL_CHECK(pl_utf8_count("", 0) == 0);
    PL_CHECK(pl_utf8_count("h\xC3\xA9llo \xF0\x9F\x98\x80", 11) == 7);
    PL_CHECK(pl_utf8_count("bad \xC0\xAF", 6) == -1);
    PL_CHECK(!pl_text_has_control("plain text", 10));
    PL_CHECK(pl_text_has_control("a\0b", 3));
    PL_CHECK(pl_text_has_control("tab\there", 8));
    PL_CHECK(pl_text_has_control("del\x7f", 4));
}

static void test_user_ids(void)
{
    char id[130];
    memset(id, 'u', sizeof id);
    PL_CHECK(pl_user_id_valid("u1", 2));
    PL_CHECK(pl_user_id_valid(id, 128));
    PL_CHECK(!pl_user_id_valid(id, 129)); /* over the bound */
    PL_CHECK(!pl_user_id_valid("", 0));
    PL_CHECK(!pl_user_id_valid("a\x1f" "b", 3)); /* the stores' separator */
    PL_CHECK(pl_user_id_valid("\xC3\xA9lodie", 7));
}

PL_TEST_MAIN(PL_CASE(well_formed_sequences),
             PL_CASE(user_ids),
             PL_CASE(ill_formed_sequences),
             PL_CASE(decode),
             PL_CASE(count_and_controls))

/*  Unit tests of pl_log's key=value formatting: a value a client chose cannot forge a
    field, break the line or escape its quotes; numbers print as printf prints them. */
#include <stdint.h>

#include "pl_log.h"
#include "pl_test.h"

static const char *kv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *kv(const char *fmt, ...)
{
    static char out[512];
    va_list ap;
    va_start(ap, fmt);
    pl_log_vkv(out, sizeof out, fmt, ap);
    va_end(ap);
    return out;
}

static void test_plain_values_stay_bare(void)
{
    PL_CHECK_STR(kv("user=%s conn=%llu", "u-42", 7ULL), "user=u-42 conn=7");
    PL_CHECK_STR(kv("n=%d z=%zu u=%u x=%x", -3, (size_t)12, 5u, 255u), "n=-3 z=12 u=5 x=ff");
    PL_CHECK_STR(kv("p=%.*s.", 3, "abcdef"), "p=abc.");
    PL_CHECK_STR(kv("pct=100%% f=%.1f", 2.25), "pct=100% f=2.2");
}

static void test_bare_values_that_could_forge_fields_are_quoted(void)
{
    PL_CHECK_STR(kv("user=%s conn=1", "x level=error"), "user=\"x level=error\" conn=1");
    PL_CHECK_STR(kv("user=%s", "a=b"), "user=\"a=b\"");
    PL_CHECK_STR(kv("user=%s", ""), "user=\"\"");
    PL_CHECK_STR(kv("user=%s", "say \"hi\"\\"), "user=\"say \\\"hi\\\"\\\\\"");
    PL_CHECK_STR(kv("user=%s", "a\nts=forged"), "user=\"a\\u000ats=forged\"");
}

static void test_values_inside_the_formats_quotes_are_escaped(void)
{
    PL_CHECK_STR(kv("reason=\"%s\" n=%d", "bad\" level=\"error", 1),
                 "reason=\"bad\\\" level=\\\"error\" n=1");
    PL_CHECK_STR(kv("reason=\"%s\"", "two words"), "reason=\"two words\"");
    PL_CHECK_STR(kv("reason=\"%s\"", "line\r\nbreak"), "reason=\"line\\u000d\\u000abreak\"");
}

static void test_output_is_bounded(void)
{
    char small[8];
    size_t n = pl_log_kv(small, sizeof small, "k=%s", "0123456789");
    PL_CHECK(n == sizeof small - 1);
    PL_CHECK_STR(small, "k=01234");
}

PL_TEST_MAIN(PL_CASE(plain_values_stay_bare),
             PL_CASE(bare_values_that_could_forge_fields_are_quoted),
             PL_CASE(values_inside_the_formats_quotes_are_escaped),
             PL_CASE(output_is_bounded))

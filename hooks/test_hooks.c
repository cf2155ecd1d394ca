/*  Unit tests for parley-hooks' pure parts: the body it sends, the signature (against
    a vector computed independently with Python's hmac module) and the backoff. */
#include <string.h>

#include "hooks.h"
#include "pl_buf.h"
#include "pl_test.h"

static void test_body(void)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    PL_CHECK(hooks_body(&b, "chat_ab12", "message.created", "2026-01-02T03:04:05.678Z",
                        "{\"x\":[1,2]}") == 0);
    PL_CHECK_STR(b.data, "{\"id\":\"chat_ab12\",\"type\":\"message.created\","
                         "\"created_at\":\"2026-01-02T03:04:05.678Z\",\"data\":{\"x\":[1,2]}}");
    /* ids and types go into JSON unescaped: anything but [A-Za-z0-9._-] is refused */
    PL_CHECK(hooks_body(&b, "a\"b", "t", "x", "{}") != 0);
    PL_CHECK(hooks_body(&b, "", "t", "x", "{}") != 0);
    PL_CHECK(hooks_body(&b, "id", "t\n", "x", "{}") != 0);
    PL_CHECK(hooks_body(&b, "id", "t", "x\"", "{}") != 0);
    pl_buf_free(&b);
}

static void test_sign(void)
{
    char sig[HOOKS_SIG_MAX];
    const char *body = "{\"a\":1}";
    PL_CHECK(
        hooks_sign("whsec_test_secret_0123", 1700000000, body, strlen(body), sig, sizeof sig) == 0);
    PL_CHECK_STR(sig, "t=1700000000,v1="
                      "b1e06771f9a20c020fc4b9be257996790d615bbe4d030159b6a5669fdada024c");
    /* too small a buffer is refused, never cut */
    char small[20];
    PL_CHECK(hooks_sign("k", 1, body, strlen(body), small, sizeof small) != 0);
}

static void test_backoff(void)
{
    hooks_cfg_t cfg = {.backoff_base_ms = 1000, .backoff_max_ms = 60000};
    /* jitter spans the upper half of base × 2^(n-1) */
    PL_CHECK(hooks_backoff_ms(&cfg, 1, 0.0) == 500);
    PL_CHECK(hooks_backoff_ms(&cfg, 1, 0.999) >= 999 && hooks_backoff_ms(&cfg, 1, 0.999) <= 1000);
    PL_CHECK(hooks_backoff_ms(&cfg, 3, 0.0) == 2000);
    PL_CHECK(hooks_backoff_ms(&cfg, 3, 0.5) == 3000);
    /* capped, and no overflow however many attempts */
    PL_CHECK(hooks_backoff_ms(&cfg, 40, 0.0) == 30000);
    PL_CHECK(hooks_backoff_ms(&cfg, 1000000, 0.999) <= 60000);
}

static const pl_test_case_t cases[] = {
    {"body", test_body}, {"sign", test_sign}, {"backoff", test_backoff}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return pl_test_main(argc, argv, cases);
}

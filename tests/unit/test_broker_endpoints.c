/*  Unit tests of BROKER_ENDPOINTS parsing (pl_broker_parse_endpoints) and of the
    endpoints a client connects to. */
#include <stdlib.h>

#include "pl_test.h"
#include "pl_zmq.h"

static void test_list(void)
{
    pl_broker_addr_t a = {0};
    const char *why = NULL;
    PL_CHECK(pl_broker_parse_endpoints("broker1:5550, broker2:5550,10.0.0.3:6000", &a, &why) == 0);
    PL_CHECK(a.n == 3);
    PL_CHECK_STR(a.at[0].host, "broker1");
    PL_CHECK(a.at[0].port == 5550);
    PL_CHECK_STR(a.at[1].host, "broker2");
    PL_CHECK_STR(a.at[2].host, "10.0.0.3");
    PL_CHECK(a.at[2].port == 6000);
    char ep[320];
    pl_broker_endpoint_at(&a, 2, 3, ep, sizeof ep);
    PL_CHECK_STR(ep, "tcp://10.0.0.3:6003");
    snprintf(a.ipc_dir, sizeof a.ipc_dir, "/run/p");
    pl_broker_endpoint_at(&a, 1, 1, ep, sizeof ep);
    PL_CHECK_STR(ep, "ipc:///run/p/broker-5551");
    char d[256];
    pl_broker_describe(&a, d, sizeof d);
    PL_CHECK_STR(d, "broker1:5550,broker2:5550,10.0.0.3:6000");
    pl_broker_describe(&a, d, 12); /* truncated, still a string */
    PL_CHECK(strlen(d) == 11);
}

static void test_refused(void)
{
    static const char *const bad[] = {"",
                                      "broker",
                                      "broker:",
                                      ":5550",
                                      "b:0",
                                      "b:65528",
                                      "b:123456",
                                      "b:55x0",
                                      "a:1,,b:2",
                                      "a:1,",
                                      "a:1,a:1",
                                      "a:-5",
                                      "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1", /* nine */
                                      NULL};
    for (const char *const *b = bad; *b; b++) {
        pl_broker_addr_t a = {0};
        const char *why = NULL;
        int rc = pl_broker_parse_endpoints(*b, &a, &why);
        if (rc != -1 || !why)
            fprintf(stderr, "  accepted: \"%s\"\n", *b);
        PL_CHECK(rc == -1 && why != NULL);
    }
    pl_broker_addr_t a = {0};
    const char *why = NULL;
    PL_CHECK(pl_broker_parse_endpoints("a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1", &a, &why) == 0);
    PL_CHECK(a.n == PL_BROKERS_MAX);
}

/* Without BROKER_ENDPOINTS a client has one broker, BROKER_HOST:BROKER_PORT. */
static void test_default_is_one_broker(void)
{
    unsetenv("BROKER_ENDPOINTS");
    setenv("BROKER_HOST", "bh", 1);
    setenv("BROKER_PORT", "7000", 1);
    pl_broker_addr_t a;
    PL_CHECK(pl_broker_addr_from_env(&a) == 0);
    PL_CHECK(a.n == 1 && a.at[0].port == 7000 && a.port == 7000);
    PL_CHECK_STR(a.at[0].host, "bh");
    setenv("BROKER_ENDPOINTS", "x:1,y:2", 1);
    PL_CHECK(pl_broker_addr_from_env(&a) == 0);
    PL_CHECK(a.n == 2 && a.port == 7000); /* BROKER_PORT stays what a broker binds */
    setenv("BROKER_ENDPOINTS", "x:1,x:1", 1);
    PL_CHECK(pl_broker_addr_from_env(&a) == -1);
    unsetenv("BROKER_ENDPOINTS");
}

PL_TEST_MAIN(PL_CASE(list), PL_CASE(refused), PL_CASE(default_is_one_broker))

/*  Unit tests of gw_api_keys: API_KEYS as a list or a file, sha256: lines, refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_api.h"
#include "pl_test.h"

/* 64 hex digits: a well-formed digest (of nothing in particular) */
#define HEX64 "8d2b5e6b0b1d5e0ec4a8e0c1b1a8bb1d2f3e4c5b6a798897a6b5c4d3e2f10102"
/* ... and 64 characters of which one is not a hex digit */
#define HEX64_BAD "gd2b5e6b0b1d5e0ec4a8e0c1b1a8bb1d2f3e4c5b6a798897a6b5c4d3e2f10102"

static int check(const gw_api_keys_t *k, const char *key)
{
    return gw_api_keys_check(k, key, strlen(key));
}

static void test_list(void)
{
    gw_api_keys_t *k = gw_api_keys_new("one, two ,three");
    PL_CHECK(k != NULL);
    PL_CHECK(gw_api_keys_count(k) == 3);
    PL_CHECK(check(k, "one") && check(k, "two") && check(k, "three"));
    PL_CHECK(!check(k, "on") && !check(k, "one ") && !check(k, "four") && !check(k, ""));
    gw_api_keys_destroy(&k);
    PL_CHECK(k == NULL);
    k = gw_api_keys_new(" , ");
    PL_CHECK(k == NULL); /* no key in it */
}

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/parley-test-keys-XXXXXX");
    int fd = mkstemp(path);
    PL_CHECK(fd >= 0);
    if (fd >= 0) {
        PL_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
    }
    return path;
}

static void test_file(void)
{
    /* the digest of "hashed-key", computed here rather than trusted from a constant */
    FILE *p = popen("printf %s hashed-key | sha256sum", "r");
    char hex[65] = "";
    PL_CHECK(p && fscanf(p, "%64s", hex) == 1);
    if (p)
        pclose(p);
    char text[256];
    snprintf(text, sizeof text, "# comment\n\n  plain-key  \nsha256:%s\r\n", hex);
    char *path = write_file(text);
    char spec[64];
    snprintf(spec, sizeof spec, "@%s", path);
    gw_api_keys_t *k = gw_api_keys_new(spec);
    PL_CHECK(k != NULL);
    PL_CHECK(gw_api_keys_count(k) == 2);
    PL_CHECK(check(k, "plain-key") && check(k, "hashed-key"));
    char given[80];
    snprintf(given, sizeof given, "sha256:%s", hex);
    PL_CHECK(!check(k, given)); /* the digest itself is not a key */
    PL_CHECK(!check(k, "# comment"));
    gw_api_keys_destroy(&k);
    unlink(path);
    free(path);
}

static void test_bad_files(void)
{
    const char *bad[] = {"sha256:1234\n", "sha256:" HEX64 "zz\n", "sha256:" HEX64 "x\n",
                         "sha256:" HEX64_BAD "\n", "# only a comment\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = write_file(bad[i]);
        char spec[64];
        snprintf(spec, sizeof spec, "@%s", path);
        PL_CHECK(gw_api_keys_new(spec) == NULL);
        unlink(path);
        free(path);
    }
    PL_CHECK(gw_api_keys_new("@/nonexistent/parley-keys") == NULL);
}

PL_TEST_MAIN(PL_CASE(list),
             PL_CASE(file),
             PL_CASE(bad_files))

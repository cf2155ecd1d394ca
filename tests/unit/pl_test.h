/*  pl_test: a tiny table-driven test runner, one executable per module.
    Usage in a test file:
        static void test_thing(void) { PL_CHECK(1 + 1 == 2); PL_CHECK_STR(a, "x"); }
        PL_TEST_MAIN(PL_CASE(thing), PL_CASE(other_thing))
    (PL_CASE(x) names the case "x" and runs test_x; the table and main() come from
    PL_TEST_MAIN, so a test file holds only its cases.)
    Command line: --list, --test NAME (run one), --verbose.
    A failed check prints file:line and the expression, and the case is counted failed;
    the run ends with "N passed, N failed" and exits non-zero on any failure. */
#ifndef PL_TEST_H
#define PL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} pl_test_case_t;

static int pl_test_failures_ = 0;
static int pl_test_verbose_ = 0;

#define PL_CHECK(expr)                                                                   \
    do {                                                                                 \
        if (!(expr)) {                                                                   \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr);            \
            pl_test_failures_++;                                                         \
        }                                                                                \
    } while (0)

#define PL_CHECK_STR(got, want)                                                          \
    do {                                                                                 \
        const char *g_ = (got), *w_ = (want);                                            \
        if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                         \
            fprintf(stderr, "  FAIL %s:%d: %s\n    got:  %s\n    want: %s\n", __FILE__,  \
                    __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");             \
            pl_test_failures_++;                                                         \
        }                                                                                \
    } while (0)

static inline int pl_test_main(int argc, char **argv, const pl_test_case_t *cases)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (const pl_test_case_t *c = cases; c->name; c++)
                printf("%s\n", c->name);
            return 0;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            pl_test_verbose_ = 1;
        } else if (strcmp(argv[i], "--test") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--list] [--test NAME] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    int passed = 0, failed = 0, ran = 0;
    for (const pl_test_case_t *c = cases; c->name; c++) {
        if (only && strcmp(only, c->name) != 0)
            continue;
        ran++;
        int before = pl_test_failures_;
        if (pl_test_verbose_)
            fprintf(stderr, "RUN  %s\n", c->name);
        c->fn();
        if (pl_test_failures_ == before) {
            passed++;
            if (pl_test_verbose_)
                fprintf(stderr, "OK   %s\n", c->name);
        } else {
            failed++;
            fprintf(stderr, "FAILED %s\n", c->name);
        }
    }
    if (only && !ran) {
        fprintf(stderr, "no test named %s\n", only);
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* A case named x that runs test_x. */
#define PL_CASE(x) {#x, test_##x}

static inline void pl_test_nothing_(void) {}

/* The table of cases (PL_CASE entries) and the main() that runs it, calling before()
   first and after() last (fixtures shared by every case, freed so LeakSanitizer sees
   a clean exit). */
#define PL_TEST_MAIN_AROUND(before, after, ...)                                          \
    static const pl_test_case_t pl_test_cases_[] = {__VA_ARGS__, {NULL, NULL}};         \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        before();                                                                        \
        int rc_ = pl_test_main(argc, argv, pl_test_cases_);                              \
        after();                                                                         \
        return rc_;                                                                      \
    }

#define PL_TEST_MAIN(...) PL_TEST_MAIN_AROUND(pl_test_nothing_, pl_test_nothing_, __VA_ARGS__)

#endif

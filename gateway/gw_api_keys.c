/*  gw_api_keys: the server API's keys (API_KEYS): a comma-separated list, or "@FILE"
    naming a file with one key per line, where "sha256:<64 hex>" holds a key's SHA-256
    instead of the key (blank lines and lines starting with '#' are skipped).
    The one thing to know: only digests are kept, and a presented key is hashed and
    compared with every one of them in full, so neither which key matched nor how much
    of one did shows in the time an answer takes. */
#include "gw_api.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"

#define DIGEST 32
#define KEYS_MAX 1024      /* bound: keys held */
#define KEY_MAX_BYTES 4096 /* a longer line or item is refused at start */

struct gw_api_keys {
    size_t n;
    unsigned char digest[KEYS_MAX][DIGEST];
};

static int sha256(const void *data, size_t len, unsigned char *out)
{
    return SHA256(data, len, out) ? 0 : -1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One key (or "sha256:<hex>" when `hashed_ok`), trimmed of spaces. 0 added, 1 blank,
   -1 bad (logged). */
static int add(gw_api_keys_t *k, const char *s, size_t len, int hashed_ok, const char *where)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    if (len == 0 || (hashed_ok && *s == '#'))
        return 1;
    if (k->n == KEYS_MAX || len > KEY_MAX_BYTES) {
        pl_error("bad configuration",
                 "var=API_KEYS reason=\"%s: at most %d keys of at most %d bytes\"", where, KEYS_MAX,
                 KEY_MAX_BYTES);
        return -1;
    }
    unsigned char *d = k->digest[k->n];
    if (hashed_ok && len > 7 && strncmp(s, "sha256:", 7) == 0) {
        if (len != 7 + 2 * DIGEST) {
            pl_error("bad configuration", "var=API_KEYS reason=\"%s: sha256: needs 64 hex digits\"",
                     where);
            return -1;
        }
        for (int i = 0; i < DIGEST; i++) {
            int hi = hexval(s[7 + 2 * i]), lo = hexval(s[8 + 2 * i]);
            if (hi < 0 || lo < 0) {
                pl_error("bad configuration",
                         "var=API_KEYS reason=\"%s: sha256: needs 64 hex digits\"", where);
                return -1;
            }
            d[i] = (unsigned char)(hi << 4 | lo);
        }
    } else if (sha256(s, len, d) != 0) {
        pl_error("bad configuration", "var=API_KEYS reason=\"cannot hash\"");
        return -1;
    }
    k->n++;
    return 0;
}

static int load_file(gw_api_keys_t *k, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pl_error("bad configuration", "var=API_KEYS reason=\"cannot read %s\"", path);
        return -1;
    }
    char line[KEY_MAX_BYTES + 128];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            n--;
        else if (!feof(f)) {
            pl_error("bad configuration", "var=API_KEYS reason=\"%s: a line is too long\"", path);
            rc = -1;
            break;
        }
        rc = add(k, line, n, 1, path) < 0 ? -1 : 0;
    }
    fclose(f);
    return rc;
}

gw_api_keys_t *gw_api_keys_new(const char *spec)
{
    gw_api_keys_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    int rc = 0;
    if (spec[0] == '@') {
        rc = load_file(k, spec + 1);
    } else {
        const char *p = spec;
        while (rc == 0) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            rc = add(k, p, n, 0, "list") < 0 ? -1 : 0;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    if (rc == 0 && k->n == 0) {
        pl_error("bad configuration", "var=API_KEYS reason=\"no key in it\"");
        rc = -1;
    }
    if (rc != 0)
        gw_api_keys_destroy(&k);
    return k;
}

void gw_api_keys_destroy(gw_api_keys_t **self_p)
{
    if (*self_p) {
        memset(*self_p, 0, sizeof **self_p);
        free(*self_p);
        *self_p = NULL;
    }
}

size_t gw_api_keys_count(const gw_api_keys_t *self)
{
    return self ? self->n : 0;
}

int gw_api_keys_check(const gw_api_keys_t *self, const char *key, size_t len)
{
    unsigned char d[DIGEST];
    if (!self || len == 0 || len > KEY_MAX_BYTES || sha256(key, len, d) != 0)
        return 0;
    unsigned found = 0;
    for (size_t i = 0; i < self->n; i++) {
        unsigned diff = 0;
        for (int j = 0; j < DIGEST; j++)
            diff |= (unsigned)(self->digest[i][j] ^ d[j]);
        found |= (unsigned)(diff == 0);
    }
    return found != 0;
}

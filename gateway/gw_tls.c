/*  gw_tls: certificate files → OpenSSL objects → the vhosts' SSL_CTXs (see gw_tls.h). */
#include "gw_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pl_log.h"
#include "pl_metrics.h"

/* What one pair of files gave: the certificate, the rest of its chain, its key. */
typedef struct {
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
} material_t;

struct gw_tls {
    char *cert_file, *key_file; /* copies: read again on every reload */
    material_t cur;
    int64_t not_after_s;                 /* cur's notAfter, Unix time (0: unreadable) */
    uint64_t reloads_ok, reloads_failed; /* SIGHUPs, by outcome */
    SSL_CTX *ctx[GW_TLS_VHOSTS];         /* owned by lws (one per vhost); valid while it runs */
    int nctx;
};

static void material_free(material_t *m)
{
    X509_free(m->leaf);
    if (m->chain)
        sk_X509_pop_free(m->chain, X509_free);
    EVP_PKEY_free(m->key);
    memset(m, 0, sizeof *m);
}

/* The last OpenSSL error as text (the queue is cleared), or `fallback`. */
static const char *ossl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "%s", fallback);
    ERR_clear_error();
    return buf;
}

/* A whole regular file of at most GW_TLS_FILE_MAX bytes; the caller frees *out.
   0, or -1 with `why` filled. */
static int read_small_file(const char *path, char **out, size_t *len, char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > GW_TLS_FILE_MAX) {
        snprintf(why, cap, "not a regular file of 1 to %d bytes", GW_TLS_FILE_MAX);
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        snprintf(why, cap, "%s", buf ? "short read" : "out of memory");
        free(buf);
        return -1;
    }
    *out = buf;
    *len = got;
    return 0;
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The first certificate of the PEM text, then every further one as the chain. */
static int parse_certs(const char *pem, size_t len, material_t *m, char *why, size_t cap)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    m->chain = sk_X509_new_null();
    if (!bio || !m->chain) {
        BIO_free(bio);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    char err[160];
    m->leaf = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    if (!m->leaf) {
        snprintf(why, cap, "no PEM certificate: %s", ossl_reason(err, sizeof err, "?"));
        BIO_free(bio);
        return -1;
    }
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        if (!x)
            break;
        if (!sk_X509_push(m->chain, x)) {
            X509_free(x);
            BIO_free(bio);
            snprintf(why, cap, "out of memory");
            return -1;
        }
    }
    /* The loop ends at the end of the text (no start line: fine) or at a broken
       certificate (not fine: the chain would be served short). */
    unsigned long e = ERR_peek_last_error();
    BIO_free(bio);
    if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        snprintf(why, cap, "a certificate of the chain is unreadable: %s",
                 ossl_reason(err, sizeof err, "?"));
        return -1;
    }
    ERR_clear_error();
    return 0;
}

static int parse_key(const char *pem, size_t len, material_t *m, char *why, size_t cap)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    m->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    char err[160];
    if (!m->key) {
        snprintf(why, cap, "no unencrypted PEM private key: %s", ossl_reason(err, sizeof err, "?"));
        return -1;
    }
    ERR_clear_error();
    return 0;
}

/* Read both files into m. 0, or -1 after logging which variable and why. */
static int load(const gw_tls_t *self, material_t *m, const char *event)
{
    char why[320] = "", *pem = NULL;
    size_t len = 0;
    const char *var = "TLS_CERT_FILE", *path = self->cert_file;
    memset(m, 0, sizeof *m);
    int rc = read_small_file(path, &pem, &len, why, sizeof why);
    if (rc == 0)
        rc = parse_certs(pem, len, m, why, sizeof why);
    free(pem);
    pem = NULL;
    if (rc == 0) {
        var = "TLS_KEY_FILE";
        path = self->key_file;
        rc = read_small_file(path, &pem, &len, why, sizeof why);
        if (rc == 0)
            rc = parse_key(pem, len, m, why, sizeof why);
        if (pem)
            OPENSSL_cleanse(pem, len); /* the key's bytes do not linger on the heap */
        free(pem);
    }
    if (rc == 0 && X509_check_private_key(m->leaf, m->key) != 1) {
        ERR_clear_error();
        snprintf(why, sizeof why, "the key does not belong to the certificate of TLS_CERT_FILE");
        rc = -1;
    }
    if (rc != 0) {
        pl_error(event, "var=%s path=%s reason=\"%s\"", var, path, why);
        material_free(m);
    }
    return rc;
}

/* One log line that says which certificate now serves: what an operator checks after
   a rotation (the SHA-256 fingerprint is what `openssl x509 -fingerprint -sha256`
   prints, without the colons). */
static void describe(const material_t *m, const char *event)
{
    char subject[256] = "?", serial[128] = "?", not_after[64] = "?",
         fp[2 * EVP_MAX_MD_SIZE + 1] = "";
    X509_NAME_oneline(X509_get_subject_name(m->leaf), subject, (int)sizeof subject);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(m->leaf), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex)
        snprintf(serial, sizeof serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(m->leaf), &tm) == 1)
        strftime(not_after, sizeof not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(m->leaf, EVP_sha256(), md, &mdlen) == 1)
        for (unsigned int i = 0; i < mdlen; i++)
            snprintf(fp + 2 * i, 3, "%02X", md[i]);
    ERR_clear_error();
    pl_info(event, "subject=%s serial=%s not_after=%s sha256=%s chain=%d", subject, serial,
            not_after, fp, sk_X509_num(m->chain));
    if (X509_cmp_current_time(X509_get0_notAfter(m->leaf)) < 0)
        pl_warn("tls certificate expired", "not_after=%s sha256=%s", not_after, fp);
}

static int64_t not_after_of(const material_t *m)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(m->leaf), &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* All of certificate, chain and key, or nothing (override: replace what is there). */
static int install(SSL_CTX *ctx, const material_t *m)
{
    if (SSL_CTX_use_cert_and_key(ctx, m->leaf, m->key, m->chain, 1) != 1) {
        char err[160];
        pl_error("tls install failed", "reason=\"%s\"", ossl_reason(err, sizeof err, "?"));
        return -1;
    }
    return 0;
}

gw_tls_t *gw_tls_new(const char *cert_file, const char *key_file)
{
    gw_tls_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cert_file = strdup(cert_file);
    self->key_file = strdup(key_file);
    if (!self->cert_file || !self->key_file || load(self, &self->cur, "bad configuration") != 0) {
        gw_tls_destroy(&self);
        return NULL;
    }
    self->not_after_s = not_after_of(&self->cur);
    describe(&self->cur, "tls certificate loaded");
    return self;
}

void gw_tls_destroy(gw_tls_t **self_p)
{
    gw_tls_t *self = *self_p;
    if (!self)
        return;
    material_free(&self->cur);
    free(self->cert_file);
    free(self->key_file);
    free(self);
    *self_p = NULL;
}

void gw_tls_vhost_info(const gw_tls_t *self, struct lws_context_creation_info *info)
{
    if (!self)
        return;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
    /* lws would offer h2 as well; the gateway's HTTP answers (and the tests) are
       HTTP/1.1, and WebSocket over h2 is not something clients need here. */
    info->alpn = "http/1.1";
}

/* OpenSSL's cert_cb, once per handshake, before it picks the certificate: the
   connection gets exactly the current material. Installing into the SSL_CTX alone is
   not enough: a context keeps one certificate per key type, so after an RSA → ECDSA
   rotation (or back) the old certificate would still be there and could be chosen. */
static int serve_current(SSL *ssl, void *arg)
{
    const gw_tls_t *self = arg;
    SSL_certs_clear(ssl);
    if (SSL_use_cert_and_key(ssl, self->cur.leaf, self->cur.key, self->cur.chain, 1) != 1) {
        ERR_clear_error();
        return 0; /* this handshake fails; the next one tries again */
    }
    return 1;
}

int gw_tls_attach(gw_tls_t *self, void *ssl_ctx)
{
    if (!self || !ssl_ctx)
        return 0;
    if (self->nctx == GW_TLS_VHOSTS) {
        pl_error("tls install failed", "reason=\"more TLS vhosts than %d\"", GW_TLS_VHOSTS);
        return -1;
    }
    if (install(ssl_ctx, &self->cur) != 0)
        return -1;
    /* lws only rules out SSLv2/3; TLS 1.0 and 1.1 are off here whatever openssl.cnf says. */
    if (SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1) {
        pl_error("tls install failed", "reason=\"cannot require TLS 1.2\"");
        return -1;
    }
    SSL_CTX_set_cert_cb(ssl_ctx, serve_current, self);
    self->ctx[self->nctx++] = ssl_ctx;
    return 0;
}

int gw_tls_reload(gw_tls_t *self)
{
    material_t next;
    if (load(self, &next, "tls reload failed") != 0) {
        self->reloads_failed++;
        pl_warn("tls certificate unchanged",
                "reason=\"the reload failed; the current certificate keeps serving\"");
        return -1;
    }
    /* serve_current hands `cur` to every new handshake; the SSL_CTXs are updated too
       so that what lws reads from them (lws_tls_vhost_cert_info) is the new one. */
    int rc = 0;
    for (int i = 0; i < self->nctx; i++)
        rc |= install(self->ctx[i], &next);
    /* Open connections and the SSL_CTXs hold their own references: ours can go. */
    material_free(&self->cur);
    self->cur = next;
    self->not_after_s = not_after_of(&self->cur);
    if (rc == 0)
        self->reloads_ok++;
    else
        self->reloads_failed++;
    describe(&self->cur, rc == 0 ? "tls certificate reloaded" : "tls certificate partly reloaded");
    return rc;
}

void gw_tls_render_metrics(const gw_tls_t *self, pl_buf_t *o)
{
    if (!self)
        return;
    pl_metrics_help(o, "parley_gateway_tls_certificate_not_after_seconds", "gauge",
                    "When the certificate new TLS connections get expires (Unix time)");
    pl_buf_printf(o, "parley_gateway_tls_certificate_not_after_seconds %lld\n",
                  (long long)self->not_after_s);
    pl_metrics_help(o, "parley_gateway_tls_reloads_total", "counter",
                    "Certificate reloads on SIGHUP, by result (failed: the old one serves on)");
    pl_buf_printf(o, "parley_gateway_tls_reloads_total{result=\"ok\"} %llu\n",
                  (unsigned long long)self->reloads_ok);
    pl_buf_printf(o, "parley_gateway_tls_reloads_total{result=\"failed\"} %llu\n",
                  (unsigned long long)self->reloads_failed);
}

/*  Unit tests of gw_tls: which files are refused (and that nothing prompts), the chain,
    the file-size bound, and reloads: good files reach new handshakes (across key types),
    bad ones leave the current certificate in place. Certificates are made with the
    openssl command in a temporary directory; handshakes run in memory (BIO pairs). */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_tls.h"
#include "pl_test.h"

static char dir[64];

/* Run a shell command (printf-style); a failure fails the case. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    PL_CHECK(n > 0 && (size_t)n < sizeof cmd);
    PL_CHECK(system(cmd) == 0);
}

/* dir/NAME.pem and dir/NAME.key, signed by dir/ca (ec or rsa key). */
static void make_cert(const char *name, const char *type)
{
    const char *newkey =
        strcmp(type, "rsa") == 0 ? "rsa:2048" : "ec -pkeyopt ec_paramgen_curve:P-256";
    sh("cd %s && openssl req -new -newkey %s -nodes -keyout %s.key -out %s.csr -subj /CN=%s "
       "2>/dev/null && openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-out %s.pem -days 2 2>/dev/null",
       dir, newkey, name, name, name, name, name);
}

static char *path_of(const char *file)
{
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, file);
    return buf[i];
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/parley-test-tls-XXXXXX");
    PL_CHECK(mkdtemp(dir) != NULL);
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
       "ca.key -out ca.pem -days 2 -subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE "
       "2>/dev/null",
       dir);
    make_cert("ec1", "ec");
    make_cert("ec2", "ec");
    make_cert("rsa1", "rsa");
}

static void cleanup(void)
{
    sh("rm -rf %s", dir);
}

static void copy(const char *from, const char *to)
{
    sh("cd %s && cp %s %s", dir, from, to);
}

static X509 *read_cert(const char *file)
{
    FILE *f = fopen(path_of(file), "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    PL_CHECK(x != NULL);
    return x;
}

/* A TLS handshake in memory against ctx; the certificate the client was shown (the
   caller frees it), or NULL when the handshake failed. */
static X509 *handshake(SSL_CTX *server_ctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cctx), *s = SSL_new(server_ctx);
    BIO *cb = NULL, *sb = NULL;
    PL_CHECK(BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        int rc = SSL_do_handshake(c);
        cdone = rc == 1;
        if (rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
            break;
        rc = SSL_do_handshake(s);
        sdone = rc == 1;
        if (rc <= 0 && SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
            break;
    }
    X509 *peer = cdone && sdone ? SSL_get1_peer_certificate(c) : NULL;
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return peer;
}

static int same(X509 *a, X509 *b)
{
    return a && b && X509_cmp(a, b) == 0;
}

static void test_refusals(void)
{
    setup();
    /* good pair first: the refusals below are about the files, not the setup */
    gw_tls_t *t = gw_tls_new(path_of("ec1.pem"), path_of("ec1.key"));
    PL_CHECK(t != NULL);
    gw_tls_destroy(&t);
    PL_CHECK(t == NULL);
    gw_tls_destroy(&t); /* NULL-safe */

    PL_CHECK(gw_tls_new(path_of("missing.pem"), path_of("ec1.key")) == NULL);
    PL_CHECK(gw_tls_new(path_of("ec1.pem"), path_of("missing.key")) == NULL);
    PL_CHECK(gw_tls_new(dir, path_of("ec1.key")) == NULL); /* a directory */
    sh("cd %s && : > empty.pem", dir);
    PL_CHECK(gw_tls_new(path_of("empty.pem"), path_of("ec1.key")) == NULL);
    PL_CHECK(gw_tls_new(path_of("ec1.key"), path_of("ec1.key")) == NULL); /* no certificate */
    PL_CHECK(gw_tls_new(path_of("ec1.pem"), path_of("ec1.pem")) == NULL); /* no key */
    PL_CHECK(gw_tls_new(path_of("ec1.pem"), path_of("ec2.key")) == NULL); /* another's key */
    /* an encrypted key: refused, never prompted for (stdin is a pipe here anyway) */
    sh("cd %s && openssl pkey -in ec1.key -out enc.key -aes256 -passout pass:secret", dir);
    PL_CHECK(gw_tls_new(path_of("ec1.pem"), path_of("enc.key")) == NULL);
    /* a broken certificate after a good one: the chain would be served short */
    sh("cd %s && cat ec1.pem > broken.pem && printf '%%s\\n' '-----BEGIN CERTIFICATE-----' "
       "'AAAAnotbase64!!' '-----END CERTIFICATE-----' >> broken.pem",
       dir);
    PL_CHECK(gw_tls_new(path_of("broken.pem"), path_of("ec1.key")) == NULL);
    cleanup();
}

static void test_size_bound(void)
{
    setup();
    /* The certificate, then text up to the bound: still read; one byte more: refused. */
    sh("cd %s && cp ec1.pem big.pem && head -c %d /dev/zero | tr '\\0' x >> big.pem && "
       "truncate -s %d big.pem && cp big.pem bigger.pem && truncate -s %d bigger.pem",
       dir, GW_TLS_FILE_MAX - 2000, GW_TLS_FILE_MAX, GW_TLS_FILE_MAX + 1);
    gw_tls_t *t = gw_tls_new(path_of("big.pem"), path_of("ec1.key"));
    PL_CHECK(t != NULL);
    gw_tls_destroy(&t);
    PL_CHECK(gw_tls_new(path_of("bigger.pem"), path_of("ec1.key")) == NULL);
    cleanup();
}

static void test_chain(void)
{
    setup();
    sh("cd %s && cat ec1.pem ca.pem > chain.pem", dir);
    gw_tls_t *t = gw_tls_new(path_of("chain.pem"), path_of("ec1.key"));
    PL_CHECK(t != NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    PL_CHECK(gw_tls_attach(t, ctx) == 0);
    STACK_OF(X509) *chain = NULL;
    PL_CHECK(SSL_CTX_get0_chain_certs(ctx, &chain) == 1);
    PL_CHECK(chain && sk_X509_num(chain) == 1);
    X509 *ca = read_cert("ca.pem"), *leaf = read_cert("ec1.pem");
    PL_CHECK(chain && sk_X509_num(chain) == 1 && same(sk_X509_value(chain, 0), ca));
    X509 *peer = handshake(ctx);
    PL_CHECK(same(peer, leaf));
    X509_free(peer);
    X509_free(ca);
    X509_free(leaf);
    SSL_CTX_free(ctx);
    gw_tls_destroy(&t);
    cleanup();
}

static void test_reload(void)
{
    setup();
    copy("ec1.pem", "cur.pem");
    copy("ec1.key", "cur.key");
    gw_tls_t *t = gw_tls_new(path_of("cur.pem"), path_of("cur.key"));
    PL_CHECK(t != NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method()), *ctx2 = SSL_CTX_new(TLS_server_method());
    PL_CHECK(gw_tls_attach(t, ctx) == 0 && gw_tls_attach(t, ctx2) == 0);
    SSL_CTX *ctx3 = SSL_CTX_new(TLS_server_method());
    PL_CHECK(gw_tls_attach(t, ctx3) == -1); /* more than GW_TLS_VHOSTS */
    SSL_CTX_free(ctx3);
    X509 *ec1 = read_cert("ec1.pem"), *rsa1 = read_cert("rsa1.pem"), *ec2 = read_cert("ec2.pem");
    X509 *peer = handshake(ctx);
    PL_CHECK(same(peer, ec1));
    X509_free(peer);

    /* ECDSA → RSA: every new handshake, on both contexts, gets the RSA certificate */
    copy("rsa1.pem", "cur.pem");
    copy("rsa1.key", "cur.key");
    PL_CHECK(gw_tls_reload(t) == 0);
    for (int i = 0; i < 2; i++) {
        peer = handshake(i ? ctx2 : ctx);
        PL_CHECK(same(peer, rsa1));
        X509_free(peer);
    }

    /* bad files: refused, the RSA certificate keeps serving */
    copy("ec2.pem", "cur.pem"); /* rsa1.key no longer matches */
    PL_CHECK(gw_tls_reload(t) == -1);
    peer = handshake(ctx);
    PL_CHECK(same(peer, rsa1));
    X509_free(peer);
    sh("cd %s && rm cur.key", dir);
    PL_CHECK(gw_tls_reload(t) == -1);
    peer = handshake(ctx);
    PL_CHECK(same(peer, rsa1));
    X509_free(peer);

    /* and back to ECDSA */
    copy("ec2.key", "cur.key");
    PL_CHECK(gw_tls_reload(t) == 0);
    peer = handshake(ctx);
    PL_CHECK(same(peer, ec2));
    X509_free(peer);

    X509_free(ec1);
    X509_free(rsa1);
    X509_free(ec2);
    SSL_CTX_free(ctx);
    SSL_CTX_free(ctx2);
    gw_tls_destroy(&t);
    cleanup();
}

static const pl_test_case_t cases[] = {{"refusals", test_refusals},
                                       {"size_bound", test_size_bound},
                                       {"chain", test_chain},
                                       {"reload", test_reload},
                                       {NULL, NULL}};

int main(int argc, char **argv)
{
    return pl_test_main(argc, argv, cases);
}

/*  Unit tests of pl_zmq_curve: which configurations give keys, which refuse to start,
    and that the keys it applies make a CURVE client and server that talk, while a
    client with another server key does not get through. */
#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_test.h"
#include "pl_zmq_curve.h"

static char s_dir[] = "/tmp/pl-curve-test-XXXXXX";
static char s_server[256], s_client[256], s_public_only[256], s_clients_dir[256];

static void cleanup(void);

/* Certificates in a fresh directory, made on first use and removed at exit. */
static void make_certs(void)
{
    static int made;
    if (made++)
        return;
    PL_CHECK(mkdtemp(s_dir) != NULL);
    atexit(cleanup);
    snprintf(s_server, sizeof s_server, "%s/broker.cert", s_dir);
    snprintf(s_client, sizeof s_client, "%s/chat.cert", s_dir);
    snprintf(s_public_only, sizeof s_public_only, "%s/public-only.cert", s_dir);
    snprintf(s_clients_dir, sizeof s_clients_dir, "%s/clients", s_dir);
    zsys_dir_create("%s", s_clients_dir);
    const char *files[3] = {s_server, s_client, s_public_only};
    for (int i = 0; i < 3; i++) {
        zcert_t *c = zcert_new();
        PL_CHECK(c && (i == 2 ? zcert_save_public(c, files[i]) : zcert_save(c, files[i])) == 0);
        zcert_destroy(&c);
    }
}

static void clear_env(void)
{
    unsetenv("BUS_INSECURE");
    unsetenv("BUS_CERT_FILE");
    unsetenv("BUS_SERVER_KEY_FILE");
    unsetenv("BUS_CLIENT_KEYS_DIR");
}

static void test_no_keys_is_an_error_unless_insecure(void)
{
    pl_bus_keys_t k;
    char dir[256];
    clear_env();
    make_certs();
    PL_CHECK(pl_bus_keys_client_from_env(&k) == -1);
    PL_CHECK(pl_bus_keys_server_from_env(&k, dir, sizeof dir) == -1);
    setenv("BUS_INSECURE", "1", 1);
    PL_CHECK(pl_bus_keys_client_from_env(&k) == 0 && k.insecure);
    PL_CHECK(pl_bus_keys_server_from_env(&k, dir, sizeof dir) == 0 && k.insecure && !dir[0]);
    setenv("BUS_INSECURE", "yes", 1); /* only 0 or 1 */
    PL_CHECK(pl_bus_keys_client_from_env(&k) == -1);
    clear_env();
}

static void test_client_needs_its_pair_and_the_server_key(void)
{
    pl_bus_keys_t k;
    clear_env();
    make_certs();
    setenv("BUS_CERT_FILE", s_client, 1);
    PL_CHECK(pl_bus_keys_client_from_env(&k) == -1); /* no BUS_SERVER_KEY_FILE */
    setenv("BUS_SERVER_KEY_FILE", s_server, 1);
    PL_CHECK(pl_bus_keys_client_from_env(&k) == 0);
    PL_CHECK(!k.insecure && strlen(k.public_key) == 40 && strlen(k.secret_key) == 40 &&
             strlen(k.server_key) == 40);
    setenv("BUS_CERT_FILE", s_public_only, 1); /* a public certificate has no secret */
    PL_CHECK(pl_bus_keys_client_from_env(&k) == -1);
    setenv("BUS_CERT_FILE", "/nonexistent/x.cert", 1);
    PL_CHECK(pl_bus_keys_client_from_env(&k) == -1);
    clear_env();
}

static void test_server_needs_a_keys_directory(void)
{
    pl_bus_keys_t k;
    char dir[256];
    clear_env();
    make_certs();
    setenv("BUS_CERT_FILE", s_server, 1);
    PL_CHECK(pl_bus_keys_server_from_env(&k, dir, sizeof dir) == -1);
    setenv("BUS_CLIENT_KEYS_DIR", s_server, 1); /* a file, not a directory */
    PL_CHECK(pl_bus_keys_server_from_env(&k, dir, sizeof dir) == -1);
    setenv("BUS_CLIENT_KEYS_DIR", s_clients_dir, 1);
    PL_CHECK(pl_bus_keys_server_from_env(&k, dir, sizeof dir) == 0);
    PL_CHECK_STR(dir, s_clients_dir);
    clear_env();
}

/* One message over tcp between a server with `srv` and a client with `cli`, in CZMQ's
   context (where zauth, when running, is the ZAP handler). */
static int talks(const pl_bus_keys_t *srv, const pl_bus_keys_t *cli)
{
    void *ctx = zsys_init();
    void *in = zmq_socket(ctx, ZMQ_PULL), *out = zmq_socket(ctx, ZMQ_PUSH);
    int zero = 0, wait = 1000;
    zmq_setsockopt(out, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(in, ZMQ_RCVTIMEO, &wait, sizeof wait);
    char ep[64];
    size_t epl = sizeof ep;
    int ok = pl_bus_keys_apply_server(srv, in) == 0 && pl_bus_keys_apply_client(cli, out) == 0 &&
             zmq_bind(in, "tcp://127.0.0.1:*") == 0 &&
             zmq_getsockopt(in, ZMQ_LAST_ENDPOINT, ep, &epl) == 0 && zmq_connect(out, ep) == 0 &&
             zmq_send(out, "hi", 2, 0) == 2;
    char buf[8];
    ok = ok && zmq_recv(in, buf, sizeof buf, 0) == 2;
    zmq_close(out);
    zmq_close(in);
    return ok;
}

static void test_applied_keys_talk_and_a_wrong_server_key_does_not(void)
{
    make_certs();
    pl_bus_keys_t srv = {0}, cli = {0}, plain = {.insecure = 1};
    PL_CHECK(pl_bus_cert_load("T", s_server, 1, srv.public_key, srv.secret_key) == 0);
    PL_CHECK(pl_bus_cert_load("T", s_client, 1, cli.public_key, cli.secret_key) == 0);
    PL_CHECK(pl_bus_cert_load("T", s_server, 0, cli.server_key, NULL) == 0);
    pl_bus_keys_t wrong = cli; /* pins another server key than the server's */
    memcpy(wrong.server_key, cli.public_key, sizeof wrong.server_key);
    /* No ZAP handler yet, and ZMQ_ZAP_ENFORCE_DOMAIN: refused, never admitted unchecked. */
    PL_CHECK(!talks(&srv, &cli));
    /* With a handler that admits every key, the keys alone decide. */
    zactor_t *auth = zactor_new(zauth, NULL);
    zstr_sendx(auth, "CURVE", CURVE_ALLOW_ANY, NULL);
    zsock_wait(auth);
    PL_CHECK(talks(&srv, &cli));
    PL_CHECK(!talks(&srv, &wrong));
    PL_CHECK(!talks(&srv, &plain));
    PL_CHECK(!talks(&plain, &cli));
    PL_CHECK(talks(&plain, &plain));
    zactor_destroy(&auth);
}

static void cleanup(void)
{
    zsys_dir_delete("%s/clients", s_dir);
    const char *files[5] = {s_server, s_client, s_public_only, NULL, NULL};
    char sec[300];
    for (int i = 0; files[i]; i++) {
        unlink(files[i]);
        snprintf(sec, sizeof sec, "%s_secret", files[i]);
        unlink(sec);
    }
    rmdir(s_dir);
}

static void quiet_logs(void)
{
    setenv("LOG_LEVEL", "error", 1);
    pl_log_init("test");
}

PL_TEST_MAIN_AROUND(quiet_logs, pl_test_nothing_,
                    PL_CASE(no_keys_is_an_error_unless_insecure),
                    PL_CASE(client_needs_its_pair_and_the_server_key),
                    PL_CASE(server_needs_a_keys_directory),
                    PL_CASE(applied_keys_talk_and_a_wrong_server_key_does_not))

/*  parley-bus-probe: connect to the broker like a Parley process and try one thing.
    The one thing to know: it takes its keys from the same variables as a real process
    (BROKER_HOST, BROKER_PORT, BUS_CERT_FILE, BUS_SERVER_KEY_FILE, BUS_INSECURE), so a
    test runs it with an admitted key (the control: the attempt works) and with an
    unknown key or none (the attempt must fail), and checks the outcome where it
    lands: the database, the other clients. Used by tests/integration only.

      parley-bus-probe push KIND EV UID JSON   a request as user UID to KIND's queue
      parley-bus-probe pub TOPIC JSON          an event on the bus (topic as given),
                                               sent three times 300 ms apart
      parley-bus-probe sub TOPIC MS            receive events on TOPIC ("" = all) for MS
      parley-bus-probe pull KIND MS            take requests off KIND's queue for MS
      parley-bus-probe hop COUNT BYTES         measure: CPU per [topic][body] message
                                               over one loopback TCP hop, plain then
                                               CURVE, three times (no broker, no env)

    stdout: first `handshake ok` or `handshake failed <event> <code>` (or `handshake
    none` when nothing happened within 2 s), then one line per message received:
    `got <topic>` (sub) or `got <ev> <uid>` (pull). Exit 0, 2 on a usage or
    configuration error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "pl_clock.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_zmq.h"
#include "proto.h"
#include "proto_envelope.h"

#define HANDSHAKE_WAIT_MS 2000

static int kind_of(const char *name, proto_svc_t *out)
{
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++)
        if (strcmp(proto_svc_name((proto_svc_t)s), name) == 0) {
            *out = (proto_svc_t)s;
            return 0;
        }
    fprintf(stderr, "parley-bus-probe: unknown service kind %s\n", name);
    return -1;
}

static void *s_mon; /* reads the socket's monitor, connected before the socket is */

/* Wait for the socket's first handshake to end; print how. 1 ok, 0 not. */
static int await_handshake(void)
{
    void *mon = s_mon;
    int ok = 0;
    zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
    int64_t deadline = pl_mono_ms() + HANDSHAKE_WAIT_MS;
    for (;;) {
        int64_t left = deadline - pl_mono_ms();
        if (left <= 0 || zmq_poll(&it, 1, (long)left) <= 0) {
            printf("handshake none\n");
            break;
        }
        zmq_msg_t head, ep;
        zmq_msg_init(&head);
        zmq_msg_init(&ep);
        zmq_msg_recv(&head, mon, 0);
        zmq_msg_recv(&ep, mon, 0);
        uint16_t ev = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&head) == 6) {
            memcpy(&ev, zmq_msg_data(&head), 2);
            memcpy(&value, (char *)zmq_msg_data(&head) + 2, 4);
        }
        zmq_msg_close(&head);
        zmq_msg_close(&ep);
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            printf("handshake ok\n");
            ok = 1;
            break;
        }
        if (ev & (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                  ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
            printf("handshake failed %s %u\n",
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? "auth"
                   : ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol"
                                                               : "no_detail",
                   (unsigned)value);
            break;
        }
    }
    fflush(stdout);
    return ok;
}

static void *open_socket(void *ctx, int type, const pl_broker_addr_t *addr, int offset)
{
    /* The monitor is set before connecting, so the first handshake is seen. */
    void *s = zmq_socket(ctx, type);
    char ep[320];
    pl_broker_endpoint(addr, offset, ep, sizeof ep);
    int linger = 1000;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        pl_bus_keys_apply_client(&addr->keys, s) ||
        zmq_socket_monitor(s, "inproc://probe-monitor",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
        fprintf(stderr, "parley-bus-probe: socket: %s\n", zmq_strerror(errno));
        exit(2);
    }
    /* Events sent while no reader is connected are lost: connect it now. */
    s_mon = zmq_socket(ctx, ZMQ_PAIR);
    if (!s_mon || zmq_connect(s_mon, "inproc://probe-monitor") != 0) {
        fprintf(stderr, "parley-bus-probe: monitor: %s\n", zmq_strerror(errno));
        exit(2);
    }
    return s;
}

static void start(void *s, const pl_broker_addr_t *addr, int offset)
{
    char ep[320];
    pl_broker_endpoint(addr, offset, ep, sizeof ep);
    if (zmq_connect(s, ep) != 0) {
        fprintf(stderr, "parley-bus-probe: connect %s: %s\n", ep, zmq_strerror(errno));
        exit(2);
    }
}

static int json_body(const char *json, msgpack_sbuffer *out)
{
    char err[128];
    if (pl_json_to_msgpack(json, strlen(json), out, err, sizeof err)) {
        fprintf(stderr, "parley-bus-probe: bad JSON: %s\n", err);
        return -1;
    }
    return 0;
}

/* Receive for ms milliseconds, printing one line per message. */
static void receive_for(void *s, long ms, int requests)
{
    int64_t deadline = pl_mono_ms() + ms;
    for (;;) {
        int64_t left = deadline - pl_mono_ms();
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        if (left <= 0 || zmq_poll(&it, 1, (long)left) <= 0)
            return;
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (pl_zmq_recv2(s, &topic, &body, 0) == 0) {
            if (!requests) {
                printf("got %.*s\n", (int)strnlen(zmq_msg_data(&topic), zmq_msg_size(&topic)),
                       (const char *)zmq_msg_data(&topic));
            } else {
                msgpack_unpacked up;
                msgpack_unpacked_init(&up);
                proto_request_t req;
                if (msgpack_unpack_next(&up, zmq_msg_data(&body), zmq_msg_size(&body), NULL) ==
                        MSGPACK_UNPACK_SUCCESS &&
                    proto_request_decode(&up.data, &req) == 0)
                    printf("got %s %s\n", req.ev, req.uid[0] ? req.uid : "-");
                else
                    printf("got ? ?\n");
                msgpack_unpacked_destroy(&up);
            }
            fflush(stdout);
        }
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
    }
}

/* ---- hop: what CURVE costs per message, sender and receiver together ------------- */

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r); /* every thread: ours and libzmq's I/O thread */
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* COUNT two-frame messages (a 16-byte topic, a BYTES body, as the bus carries) PUSHed
   to a PULL over 127.0.0.1, read back in batches of 100. CPU µs per message. */
static double hop_once(int curve, int count, size_t bytes)
{
    void *ctx = zmq_ctx_new();
    void *in = zmq_socket(ctx, ZMQ_PULL), *out = zmq_socket(ctx, ZMQ_PUSH);
    int one = 1, zero = 0;
    zmq_setsockopt(in, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(out, ZMQ_SNDHWM, &zero, sizeof zero);
    if (curve) {
        pl_bus_keys_t server = {0}, client = {0};
        zmq_curve_keypair(server.public_key, server.secret_key);
        zmq_curve_keypair(client.public_key, client.secret_key);
        memcpy(client.server_key, server.public_key, sizeof client.server_key);
        zmq_setsockopt(in, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(in, ZMQ_CURVE_SECRETKEY, server.secret_key, PL_Z85_KEY_LEN);
        pl_bus_keys_apply_client(&client, out);
    }
    char ep[64];
    size_t epl = sizeof ep;
    zmq_bind(in, "tcp://127.0.0.1:*");
    zmq_getsockopt(in, ZMQ_LAST_ENDPOINT, ep, &epl);
    zmq_connect(out, ep);
    char topic[16] = "c123456789012345";
    char *body = calloc(1, bytes + 1), *buf = malloc(bytes + 64);
    double per = -1;
    if (body && buf) {
        double t0 = 0;
        for (int i = -100; i < count; i++) { /* the first 100 warm up (and handshake) */
            if (i == 0)
                t0 = cpu_s();
            zmq_send(out, topic, sizeof topic, ZMQ_SNDMORE);
            zmq_send(out, body, bytes, 0);
            if ((i + 100) % 100 == 99)
                for (int k = 0; k < 100; k++) {
                    zmq_recv(in, buf, bytes + 64, 0);
                    zmq_recv(in, buf, bytes + 64, 0);
                }
        }
        per = (cpu_s() - t0) / count * 1e6;
    }
    free(body);
    free(buf);
    zmq_close(out);
    zmq_close(in);
    zmq_ctx_term(ctx);
    return per;
}

static int hop(int count, long bytes)
{
    if (count < 100 || count % 100 || bytes < 0 || bytes > 1 << 20) {
        fprintf(stderr, "parley-bus-probe: hop COUNT (a multiple of 100) BYTES (<= 1 MiB)\n");
        return 2;
    }
    for (int round = 1; round <= 3; round++)
        for (int curve = 0; curve < 2; curve++)
            printf("%s %d: %.2f us CPU per message (%d messages, %ld-byte body)\n",
                   curve ? "curve" : "plain", round, hop_once(curve, count, (size_t)bytes), count,
                   bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (pl_log_init("bus-probe"))
        return 2;
    if (argc == 4 && strcmp(argv[1], "hop") == 0)
        return hop(atoi(argv[2]), atol(argv[3]));
    if (argc < 4) {
        fprintf(stderr, "usage: parley-bus-probe push KIND EV UID JSON | pub TOPIC JSON | "
                        "sub TOPIC MS | pull KIND MS | hop COUNT BYTES\n");
        return 2;
    }
    pl_broker_addr_t addr;
    if (pl_broker_client_from_env(&addr))
        return 2;
    void *ctx = zmq_ctx_new();
    const char *mode = argv[1];
    proto_svc_t kind;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = 0;
    if (strcmp(mode, "push") == 0 && argc == 6) {
        if (kind_of(argv[2], &kind))
            return 2;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        /* Answers would go to g<this id>, which nobody reads: the test looks at the
           effect, not the reply. No deadline. */
        proto_pack_request_head(&pk, argv[3], argv[3], "probe00000000000", 1, 1, argv[4], "student",
                                argv[4], 0);
        if (json_body(argv[5], &sb))
            return 2;
        void *s = open_socket(ctx, ZMQ_PUSH, &addr, proto_svc_queue_offset(kind));
        start(s, &addr, proto_svc_queue_offset(kind));
        await_handshake();
        const char *name = proto_svc_name(kind);
        if (pl_zmq_send2(s, name, strlen(name), sb.data, sb.size, ZMQ_DONTWAIT) == 0)
            printf("sent\n");
        else
            printf("not sent %s\n", zmq_strerror(errno));
        zmq_close(s); /* lingers up to 1 s: a queued request leaves if it can */
    } else if (strcmp(mode, "pub") == 0 && argc == 4) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        proto_pack_event_head(&pk, NULL, 0);
        if (json_body(argv[3], &sb))
            return 2;
        void *s = open_socket(ctx, ZMQ_PUB, &addr, PROTO_PORT_EVENTS_IN);
        start(s, &addr, PROTO_PORT_EVENTS_IN);
        await_handshake();
        /* PUB drops what no subscriber has asked for yet, and the subscriptions reach
           us from the broker a moment after the handshake: send three times. */
        const char *t = argv[2];
        for (int i = 0; i < 3; i++) {
            struct timespec ts = {0, 300 * 1000000L};
            nanosleep(&ts, NULL);
            pl_zmq_send2(s, t, strlen(t) + 1, sb.data, sb.size, ZMQ_DONTWAIT);
        }
        printf("sent\n");
        zmq_close(s);
    } else if ((strcmp(mode, "sub") == 0 || strcmp(mode, "pull") == 0) && argc == 4) {
        int pull = mode[1] == 'u' && mode[2] == 'l';
        if (pull && kind_of(argv[2], &kind))
            return 2;
        int off = pull ? proto_svc_queue_offset(kind) + 1 : PROTO_PORT_EVENTS_OUT;
        void *s = open_socket(ctx, pull ? ZMQ_PULL : ZMQ_SUB, &addr, off);
        if (!pull) {
            const char *t = argv[2];
            /* A topic is sent with its NUL; "" subscribes to everything. */
            zmq_setsockopt(s, ZMQ_SUBSCRIBE, t, t[0] ? strlen(t) + 1 : 0);
        }
        start(s, &addr, off);
        printf("ready\n");
        fflush(stdout);
        await_handshake();
        receive_for(s, atol(argv[3]), pull);
        zmq_close(s);
    } else {
        fprintf(stderr, "parley-bus-probe: bad arguments for %s\n", mode);
        rc = 2;
    }
    msgpack_sbuffer_destroy(&sb);
    if (s_mon)
        zmq_close(s_mon);
    zmq_ctx_term(ctx);
    return rc;
}

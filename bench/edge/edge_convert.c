/*  parley-bench-edge: what the gateway spends turning one client frame into the
    request it puts on the bus, before and after "the edge converts once" (docs/design/
    gateway.md). Not a test: a timing, printed as ns per frame, old and new interleaved.
    The one thing to know: "old" is the forward path as it was, kept here as a copy
    (JSON → MessagePack → unpacked → the body packed again key by key; for Socket.IO a
    request map packed and unpacked once more in between); "new" is the tree's own code
    (proto_pack_request_body, gw_sio_event_parse). Both include the conversion and the
    unpacking the validation needs, which are the same; the difference is the saving. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_sio.h"
#include "pl_json.h"
#include "pl_mp.h"
#include "proto_envelope.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int head(msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    return proto_pack_request_head(&pk, "message", "message", "0123456789abcdef", 7, 99,
                                   "bench-user-0001", "student", NULL, 1765000000000);
}

static int skipped(const msgpack_object *k)
{
    return pl_mp_str_eq(k, "type") || pl_mp_str_eq(k, "id");
}

/* The old forward(): the unpacked map packed again, less type and id. */
static int repack_body(msgpack_sbuffer *out, const msgpack_object *body)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < body->via.map.size; i++)
        keep += !skipped(&body->via.map.ptr[i].key);
    int rc = msgpack_pack_map(&pk, keep);
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object_kv *kv = &body->via.map.ptr[i];
        if (!skipped(&kv->key))
            rc |= msgpack_pack_object(&pk, kv->key) || msgpack_pack_object(&pk, kv->val);
    }
    return rc;
}

/* One raw WebSocket frame to a request in `out`; new: the bytes copied. */
static int raw_frame(const char *json, size_t len, msgpack_sbuffer *sb, msgpack_sbuffer *out,
                     int new_way)
{
    msgpack_sbuffer_clear(sb);
    msgpack_sbuffer_clear(out);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = pl_json_to_msgpack_ex(json, len, PL_JSON_RAW_TEXT, sb, NULL, 0) ||
             msgpack_unpack_next(&up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS ||
             head(out) ||
             (new_way ? proto_pack_request_body(out, sb->data, off) : repack_body(out, &up.data));
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* The old gw_sio_event_request + sio_event: a request map packed from the event, then
   unpacked for the router, whose forward packed the body once more. */
static int sio_old(const char *json, size_t len, int64_t ack, msgpack_sbuffer *sb,
                   msgpack_sbuffer *out)
{
    msgpack_sbuffer req;
    msgpack_sbuffer_init(&req);
    msgpack_unpacked up, up2;
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&up2);
    size_t off = 0, off2 = 0;
    msgpack_sbuffer_clear(sb);
    msgpack_sbuffer_clear(out);
    int rc = pl_json_to_msgpack_ex(json, len, PL_JSON_RAW_TEXT, sb, NULL, 0) ||
             msgpack_unpack_next(&up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS;
    if (rc == 0) {
        const msgpack_object *name = &up.data.via.array.ptr[0];
        const msgpack_object *arg = &up.data.via.array.ptr[1];
        uint32_t keep = 0;
        for (uint32_t i = 0; i < arg->via.map.size; i++)
            keep += !skipped(&arg->via.map.ptr[i].key);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
        rc = msgpack_pack_map(&pk, 1 + keep + (ack >= 0));
        rc |= pl_pack_str(&pk, "type") || msgpack_pack_object(&pk, *name);
        for (uint32_t i = 0; i < arg->via.map.size; i++) {
            const msgpack_object_kv *kv = &arg->via.map.ptr[i];
            if (!skipped(&kv->key))
                rc |= msgpack_pack_object(&pk, kv->key) || msgpack_pack_object(&pk, kv->val);
        }
        if (ack >= 0)
            rc |= pl_pack_kv_int(&pk, "id", ack);
        rc = rc || msgpack_unpack_next(&up2, req.data, req.size, &off2) != MSGPACK_UNPACK_SUCCESS ||
             head(out) || repack_body(out, &up2.data);
    }
    msgpack_unpacked_destroy(&up2);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&req);
    return rc;
}

static int sio_new(const char *json, size_t len, msgpack_sbuffer *sb, msgpack_sbuffer *out)
{
    msgpack_sbuffer_clear(sb);
    msgpack_sbuffer_clear(out);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    gw_sio_event_t ev;
    int rc = gw_sio_event_parse(json, len, sb, &up, &ev, NULL, 0) || head(out) ||
             proto_pack_request_body(out, ev.body, ev.body_len);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* ns per frame of one path over n frames. */
static double time_path(int which, const char *raw, const char *sio, long n)
{
    msgpack_sbuffer sb, out;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&out);
    size_t rl = strlen(raw), sl = strlen(sio);
    int rc = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        switch (which) {
        case 0:
            rc |= raw_frame(raw, rl, &sb, &out, 0);
            break;
        case 1:
            rc |= raw_frame(raw, rl, &sb, &out, 1);
            break;
        case 2:
            rc |= sio_old(sio, sl, 12, &sb, &out);
            break;
        default:
            rc |= sio_new(sio, sl, &sb, &out);
            break;
        }
    }
    double dt = (now_ns() - t0) / (double)n;
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&sb);
    if (rc) {
        fprintf(stderr, "a path failed\n");
        exit(1);
    }
    return dt;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    int only = argc > 3 ? atoi(argv[3]) : -1; /* one path alone, for perf stat */
    if (n <= 0 || rounds <= 0 || only < -1 || only > 3) {
        fprintf(stderr, "usage: parley-bench-edge [frames per run] [rounds] [path 0-3]\n"
                        "paths: 0 raw old, 1 raw new, 2 sio old, 3 sio new\n");
        return 2;
    }
    /* parley-bench's frame, content of 100 characters */
    char content[101];
    memset(content, 'x', 100);
    content[100] = '\0';
    char raw[512], sio[512];
    snprintf(raw, sizeof raw,
             "{\"type\":\"message\",\"id\":123456,\"conversation_id\":4711,\"content\":\"%s\","
             "\"temp_id\":\"17.123456\"}",
             content);
    snprintf(
        sio, sizeof sio,
        "[\"message\",{\"conversation_id\":4711,\"content\":\"%s\",\"temp_id\":\"17.123456\"}]",
        content);
    static const char *const names[] = {"raw old", "raw new", "sio old", "sio new"};
    if (only >= 0) {
        printf("%s: %.0f ns per frame over %ld frames\n", names[only], time_path(only, raw, sio, n),
               n);
        return 0;
    }
    printf("ns per frame, %ld frames per run (JSON -> request on the bus)\n", n);
    for (int r = 0; r < rounds; r++) {
        double t[4];
        for (int w = 0; w < 4; w++)
            t[w] = time_path(w, raw, sio, n);
        printf("round %d:", r + 1);
        for (int w = 0; w < 4; w++)
            printf("  %s %.0f", names[w], t[w]);
        printf("  | saved: raw %.0f (%.0f%%), sio %.0f (%.0f%%)\n", t[0] - t[1],
               100.0 * (t[0] - t[1]) / t[0], t[2] - t[3], 100.0 * (t[2] - t[3]) / t[2]);
    }
    return 0;
}

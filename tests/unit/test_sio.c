/*  test_sio: unit tests for gw_sio, the Engine.IO v4 / Socket.IO v5 codec.
    The one thing to know: every parser input goes through an exact-size heap copy with
    no NUL after it (see dup), so under ASan any read past `len` fails the run; the
    malformed cases are the packets a hostile client would send. */
#include "pl_test.h"

#include "gw_sio.h"
#include "pl_json.h"
#include "proto_envelope.h"

/* ------------------------------------------------------------ helpers */

static char *s_copy; /* the exact-size copy of the last parsed input */

static const char *dup(const char *s, size_t n)
{
    free(s_copy);
    s_copy = malloc(n ? n : 1);
    if (!s_copy)
        abort();
    memcpy(s_copy, s, n);
    return s_copy;
}

static int sio(const char *text, gw_sio_packet_t *p)
{
    char err[128];
    size_t n = strlen(text);
    return gw_sio_parse(dup(text, n), n, p, err, sizeof err);
}

static char s_err[128];

static int sio_err(const char *text)
{
    gw_sio_packet_t p;
    size_t n = strlen(text);
    s_err[0] = '\0';
    return gw_sio_parse(dup(text, n), n, &p, s_err, sizeof s_err);
}

static int data_is(const gw_sio_packet_t *p, const char *want)
{
    if (!want)
        return p->data == NULL && p->data_len == 0;
    return p->data && p->data_len == strlen(want) && memcmp(p->data, want, p->data_len) == 0;
}

static int nsp_is(const gw_sio_packet_t *p, const char *want)
{
    return p->nsp_len == strlen(want) && memcmp(p->nsp, want, p->nsp_len) == 0;
}

static char s_text[4096];

/* One MessagePack object, exactly buf[0..len), as JSON text into out; -1 if not. */
static int bytes_json(const char *buf, size_t len, char *out, size_t cap)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = msgpack_unpack_next(&up, buf, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len &&
                     pl_msgpack_to_json(&up.data, &b) == 0
                 ? 0
                 : -1;
    if (rc == 0)
        snprintf(out, cap, "%s", b.data);
    pl_buf_free(&b);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* gw_sio_event_parse as "<name> <the body forwarded from it, as JSON>", or
   "ERR: <reason>". Also checks that the body bytes are exactly the argument map. */
static const char *event(const char *payload)
{
    msgpack_sbuffer sb, fwd;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&fwd);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err[128], arg[2048], body[2048];
    gw_sio_event_t ev;
    size_t n = strlen(payload);
    if (gw_sio_event_parse(dup(payload, n), n, &sb, &up, &ev, err, sizeof err) != 0)
        snprintf(s_text, sizeof s_text, "ERR: %s", err);
    else if (ev.name->type != MSGPACK_OBJECT_STR || ev.arg->type != MSGPACK_OBJECT_MAP ||
             bytes_json(ev.body, ev.body_len, body, sizeof body) != 0) {
        snprintf(s_text, sizeof s_text, "BAD EVENT");
    } else {
        pl_buf_t a;
        pl_buf_init(&a, 0);
        int same = pl_msgpack_to_json(ev.arg, &a) == 0 && strcmp(a.data, body) == 0;
        pl_buf_free(&a);
        if (!same || proto_pack_request_body(&fwd, ev.body, ev.body_len) != 0 ||
            bytes_json(fwd.data, fwd.size, arg, sizeof arg) != 0)
            snprintf(s_text, sizeof s_text, "BODY IS NOT THE ARGUMENT");
        else
            snprintf(s_text, sizeof s_text, "%.*s %s", (int)ev.name->via.str.size,
                     ev.name->via.str.ptr, arg);
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&fwd);
    msgpack_sbuffer_destroy(&sb);
    return s_text;
}

static const char *wire(const char *json)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    size_t n = strlen(json);
    if (gw_sio_from_json(dup(json, n), n, &b) != 0)
        snprintf(s_text, sizeof s_text, "ERR%s", b.len ? " (output left behind)" : "");
    else
        snprintf(s_text, sizeof s_text, "%s", b.data);
    pl_buf_free(&b);
    return s_text;
}

static const char *token(const char *payload, int *rc)
{
    char out[64];
    size_t n = strlen(payload);
    out[0] = '\0';
    *rc = gw_sio_auth_token(n ? dup(payload, n) : NULL, n, out, sizeof out);
    snprintf(s_text, sizeof s_text, "%s", *rc == GW_SIO_TOKEN_FOUND ? out : "");
    return s_text;
}

/* ------------------------------------------------------------ Engine.IO */

static void test_eio_types(void)
{
    gw_eio_packet_t p;
    const char *all = "0123456";
    for (int t = 0; t < 7; t++) {
        PL_CHECK(gw_eio_parse(dup(all + t, 1), 1, &p) == 0);
        PL_CHECK((int)p.type == t);
        PL_CHECK(p.len == 0);
    }
    PL_CHECK(gw_eio_parse(dup("42[\"a\"]", 7), 7, &p) == 0);
    PL_CHECK(p.type == GW_EIO_MESSAGE && p.len == 6 && memcmp(p.data, "2[\"a\"]", 6) == 0);
    PL_CHECK(gw_eio_parse(dup("2probe", 6), 6, &p) == 0);
    PL_CHECK(p.type == GW_EIO_PING && p.len == 5);
}

static void test_eio_malformed(void)
{
    gw_eio_packet_t p;
    PL_CHECK(gw_eio_parse(dup("", 0), 0, &p) == -1);
    PL_CHECK(gw_eio_parse(NULL, 0, &p) == -1);
    PL_CHECK(gw_eio_parse(dup("7", 1), 1, &p) == -1);
    PL_CHECK(gw_eio_parse(dup("x", 1), 1, &p) == -1);
    PL_CHECK(gw_eio_parse(dup("{\"type\":\"auth\"}", 15), 15, &p) == -1);
    PL_CHECK(gw_eio_parse(dup("b4AAA", 5), 5, &p) == -1); /* EIO v3 base64 binary */
}

static void test_eio_open(void)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    PL_CHECK(gw_eio_open(&b, "abc-1", 25000, 20000, 131072) == 0);
    PL_CHECK_STR(b.data, "0{\"sid\":\"abc-1\",\"upgrades\":[],\"pingInterval\":25000,"
                         "\"pingTimeout\":20000,\"maxPayload\":131072}");
    pl_buf_free(&b);
}

/* ------------------------------------------------------------ Socket.IO packets */

static void test_connect(void)
{
    gw_sio_packet_t p;
    PL_CHECK(sio("0", &p) == 0);
    PL_CHECK(p.type == GW_SIO_CONNECT && gw_sio_default_nsp(&p) && p.ack == -1 &&
             data_is(&p, NULL));
    PL_CHECK(sio("0{\"token\":\"t\"}", &p) == 0);
    PL_CHECK(p.type == GW_SIO_CONNECT && gw_sio_default_nsp(&p) &&
             data_is(&p, "{\"token\":\"t\"}"));
    PL_CHECK(sio("0/admin,", &p) == 0);
    PL_CHECK(p.type == GW_SIO_CONNECT && nsp_is(&p, "/admin") && !gw_sio_default_nsp(&p));
    PL_CHECK(data_is(&p, NULL));
    PL_CHECK(sio("0/admin,{\"token\":\"t\"}", &p) == 0);
    PL_CHECK(nsp_is(&p, "/admin") && data_is(&p, "{\"token\":\"t\"}"));
    PL_CHECK(sio("0/,{}", &p) == 0);
    PL_CHECK(gw_sio_default_nsp(&p) && data_is(&p, "{}"));
    PL_CHECK(sio("0/admin", &p) == 0); /* no comma: the namespace runs to the end */
    PL_CHECK(nsp_is(&p, "/admin") && data_is(&p, NULL));
}

static void test_disconnect(void)
{
    gw_sio_packet_t p;
    PL_CHECK(sio("1", &p) == 0);
    PL_CHECK(p.type == GW_SIO_DISCONNECT && gw_sio_default_nsp(&p) && data_is(&p, NULL));
    PL_CHECK(sio("1/chat,", &p) == 0);
    PL_CHECK(p.type == GW_SIO_DISCONNECT && nsp_is(&p, "/chat"));
}

static void test_event(void)
{
    gw_sio_packet_t p;
    PL_CHECK(sio("2[\"send_message\",{\"conversation_id\":1}]", &p) == 0);
    PL_CHECK(p.type == GW_SIO_EVENT && p.ack == -1 && gw_sio_default_nsp(&p));
    PL_CHECK(data_is(&p, "[\"send_message\",{\"conversation_id\":1}]"));
    PL_CHECK(sio("20[\"ping\"]", &p) == 0);
    PL_CHECK(p.ack == 0 && data_is(&p, "[\"ping\"]"));
    PL_CHECK(sio("212345[\"x\",{}]", &p) == 0);
    PL_CHECK(p.ack == 12345 && data_is(&p, "[\"x\",{}]"));
    PL_CHECK(sio("2/chat,7[\"x\"]", &p) == 0);
    PL_CHECK(nsp_is(&p, "/chat") && p.ack == 7 && data_is(&p, "[\"x\"]"));
    PL_CHECK(sio("2999999999999999[\"x\"]", &p) == 0); /* 15 digits: the largest ack id */
    PL_CHECK(p.ack == 999999999999999LL);
    PL_CHECK(sio("2", &p) == 0 && data_is(&p, NULL)); /* parses; the payload check refuses */
}

static void test_ack_and_errors(void)
{
    gw_sio_packet_t p;
    PL_CHECK(sio("35[{\"ok\":true}]", &p) == 0);
    PL_CHECK(p.type == GW_SIO_ACK && p.ack == 5 && data_is(&p, "[{\"ok\":true}]"));
    PL_CHECK(sio("4{\"message\":\"no\"}", &p) == 0);
    PL_CHECK(p.type == GW_SIO_CONNECT_ERROR && data_is(&p, "{\"message\":\"no\"}"));
}

static void test_binary(void)
{
    gw_sio_packet_t p;
    PL_CHECK(sio("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", &p) == 0);
    PL_CHECK(p.type == GW_SIO_BINARY_EVENT && p.attachments == 1 && p.ack == -1);
    PL_CHECK(sio("52-/chat,9[\"up\"]", &p) == 0);
    PL_CHECK(p.attachments == 2 && nsp_is(&p, "/chat") && p.ack == 9);
    PL_CHECK(sio("610-3[{}]", &p) == 0);
    PL_CHECK(p.type == GW_SIO_BINARY_ACK && p.attachments == 10 && p.ack == 3);
    PL_CHECK(sio("50-[\"x\"]", &p) == 0 && p.attachments == 0);
}

static void test_malformed_packets(void)
{
    PL_CHECK(sio_err("") == -1);
    PL_CHECK(sio_err("7") == -1);
    PL_CHECK(sio_err("9[]") == -1);
    PL_CHECK(sio_err("a") == -1);
    PL_CHECK(sio_err("[\"x\"]") == -1);
    PL_CHECK(sio_err("5[\"x\"]") == -1);    /* binary without a count */
    PL_CHECK(sio_err("5-[\"x\"]") == -1);   /* empty count */
    PL_CHECK(sio_err("51[\"x\"]") == -1);   /* count without '-' */
    PL_CHECK(sio_err("51") == -1);          /* cut short */
    PL_CHECK(sio_err("511-[\"x\"]") == -1); /* above the cap */
    PL_CHECK(sio_err("51000-[]") == -1);    /* four digits */
    PL_CHECK(sio_err("5999999999999999999999-[]") == -1);
    PL_CHECK(sio_err("21234567890123456[\"x\"]") == -1); /* 16-digit ack id */
    PL_CHECK(strstr(s_err, "ack id") != NULL);
    PL_CHECK(sio_err("299999999999999999999999999999999999999[\"x\"]") == -1);
    PL_CHECK(sio_err("0/a b,") == -1); /* spaces and control bytes are not echoed back */
    PL_CHECK(sio_err("0/a\tb,") == -1);
    PL_CHECK(sio_err("0/\xc3\xa9,") == -1);
    char nsp[GW_SIO_NSP_MAX + 8];
    memset(nsp, 'a', sizeof nsp);
    nsp[0] = '0';
    nsp[1] = '/';
    nsp[GW_SIO_NSP_MAX + 2] = ',';
    nsp[GW_SIO_NSP_MAX + 3] = '\0';
    PL_CHECK(sio_err(nsp) == -1); /* "/" + 128 letters */
    PL_CHECK(strstr(s_err, "namespace") != NULL);
    nsp[GW_SIO_NSP_MAX + 1] = ',';
    nsp[GW_SIO_NSP_MAX + 2] = '\0';
    PL_CHECK(sio_err(nsp) == 0); /* exactly 128 bytes with the '/' */
}

static void test_parse_never_reads_past_len(void)
{
    /* Every prefix of a rich packet parses or fails cleanly inside its bytes (ASan). */
    const char *full = "52-/chat,123[\"ev\",{\"a\":[1,2,{\"b\":\"c\"}]}]";
    for (size_t n = 0; n <= strlen(full); n++) {
        gw_sio_packet_t p;
        char err[64];
        int rc = gw_sio_parse(dup(full, n), n, &p, err, sizeof err);
        PL_CHECK(rc == 0 || rc == -1);
        if (rc == 0)
            PL_CHECK(p.data_len <= n && (!p.data || p.data >= s_copy));
    }
}

/* ------------------------------------------------------------ payloads */

static void test_event_request(void)
{
    PL_CHECK_STR(event("[\"send_message\",{\"conversation_id\":3,\"content\":\"hi\"}]"),
                 "send_message {\"conversation_id\":3,\"content\":\"hi\"}");
    PL_CHECK_STR(event("[\"send_message\",{\"conversation_id\":3}]"),
                 "send_message {\"conversation_id\":3}");
    PL_CHECK_STR(event("[\"ping\"]"), "ping {}");
    PL_CHECK_STR(event("[\"ping\",null]"), "ping {}");
    PL_CHECK_STR(event(" [ \"list_mentors\" , { } ] "), "list_mentors {}");
    /* the argument cannot pick its own type or correlation id: not forwarded */
    PL_CHECK_STR(event("[\"typing_start\",{\"type\":\"auth\",\"id\":\"x\",\"conversation_id\":1}]"),
                 "typing_start {\"conversation_id\":1}");
    /* nested values pass through unchanged */
    PL_CHECK_STR(event("[\"call_signal\",{\"call_id\":1,\"signal\":{\"sdp\":\"v=0\\r\\n\",\"c\":[1,"
                       "2.5,null]}}]"),
                 "call_signal {\"call_id\":1,\"signal\":{\"sdp\":\"v=0\\r\\n\",\"c\":[1,2.5,null]}}");
}

/* The body forwarded for a Socket.IO event, or for a raw JSON frame (the whole frame:
   the router copies its converted bytes less type and id), into out. */
static int forwarded_sio(const char *payload, msgpack_sbuffer *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    gw_sio_event_t ev;
    size_t n = strlen(payload);
    int rc = gw_sio_event_parse(dup(payload, n), n, &sb, &up, &ev, NULL, 0) == 0 &&
                     proto_pack_request_body(out, ev.body, ev.body_len) == 0
                 ? 0
                 : -1;
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int forwarded_json(const char *frame, msgpack_sbuffer *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    size_t n = strlen(frame);
    int rc = pl_json_to_msgpack_ex(dup(frame, n), n, PL_JSON_RAW_TEXT, &sb, NULL, 0) == 0 &&
                     proto_pack_request_body(out, sb.data, sb.size) == 0
                 ? 0
                 : -1;
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* A request sent as a Socket.IO event and the same request as a raw frame put the
   same bytes on the bus. */
static void test_event_forwards_what_a_frame_does(void)
{
    static const char *const pairs[][2] = {
        {"[\"send_message\",{\"conversation_id\":3,\"content\":\"h\\u00e9\",\"temp_id\":\"t1\"}]",
         "{\"type\":\"send_message\",\"conversation_id\":3,\"content\":\"h\\u00e9\","
         "\"temp_id\":\"t1\",\"id\":12}"},
        {"[\"ping\"]", "{\"type\":\"ping\"}"},
        {"[\"ping\",null]", "{\"id\":\"x\",\"type\":\"ping\"}"},
        {"[\"typing_start\",{\"type\":\"auth\",\"id\":\"x\",\"conversation_id\":1}]",
         "{\"type\":\"typing_start\",\"conversation_id\":1,\"id\":4}"},
        {"[\"call_signal\",{\"call_id\":1,\"signal\":{\"sdp\":\"v=0\\r\\n\",\"c\":[1,2.5,null]}}]",
         "{\"type\":\"call_signal\",\"call_id\":1,\"signal\":{\"sdp\":\"v=0\\r\\n\",\"c\":[1,2.5,"
         "null]}}"},
        {"[\"x\",{\"a\":\"\xff\"}]", "{\"type\":\"x\",\"a\":\"\xff\"}"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        msgpack_sbuffer a, b;
        msgpack_sbuffer_init(&a);
        msgpack_sbuffer_init(&b);
        PL_CHECK(forwarded_sio(pairs[i][0], &a) == 0);
        PL_CHECK(forwarded_json(pairs[i][1], &b) == 0);
        PL_CHECK(a.size > 0 && a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
        msgpack_sbuffer_destroy(&b);
        msgpack_sbuffer_destroy(&a);
    }
}

static void test_event_request_malformed(void)
{
    PL_CHECK(strncmp(event(""), "ERR", 3) == 0);
    PL_CHECK(strncmp(event("["), "ERR: payload", 12) == 0);
    PL_CHECK(strncmp(event("{\"a\":1}"), "ERR", 3) == 0);
    PL_CHECK(strncmp(event("[]"), "ERR", 3) == 0);
    PL_CHECK(strncmp(event("[1,{}]"), "ERR: event name", 15) == 0);
    PL_CHECK(strncmp(event("[\"\",{}]"), "ERR: event name", 15) == 0);
    PL_CHECK(strncmp(event("[\"x\",{},{}]"), "ERR: an event takes one", 23) == 0);
    PL_CHECK(strncmp(event("[\"x\",\"str\"]"), "ERR: the event's argument", 25) == 0);
    PL_CHECK(strncmp(event("[\"x\",[1]]"), "ERR: the event's argument", 25) == 0);
    PL_CHECK(strncmp(event("[\"x\",{}] trailing"), "ERR: payload", 12) == 0);
    /* invalid UTF-8 is not a syntax error: kept for proto_validate, which names the field
       and answers with the ack id (test_proto's text_in_every_field) */
    PL_CHECK(strncmp(event("[\"x\",{\"a\":\"\xff\"}]"), "x {\"a\":", 7) == 0);
    char name[200] = "[\"";
    memset(name + 2, 'n', 65);
    strcpy(name + 67, "\"]");
    PL_CHECK(strncmp(event(name), "ERR: event name", 15) == 0);
    name[66] = '"';
    name[67] = ']';
    name[68] = '\0';
    PL_CHECK(strncmp(event(name), "nnn", 3) == 0); /* 64 bytes is fine */
    /* nesting beyond pl_json's depth limit is refused, not recursed into */
    char deep[200];
    size_t k = 0;
    deep[k++] = '[';
    deep[k++] = '"';
    deep[k++] = 'x';
    deep[k++] = '"';
    deep[k++] = ',';
    for (int i = 0; i < 40; i++)
        deep[k++] = '[';
    for (int i = 0; i < 40; i++)
        deep[k++] = ']';
    deep[k++] = ']';
    deep[k] = '\0';
    PL_CHECK(strncmp(event(deep), "ERR: payload", 12) == 0);
}

static void test_auth_token(void)
{
    int rc;
    PL_CHECK_STR(token("{\"token\":\"abc.def.ghi\"}", &rc), "abc.def.ghi");
    PL_CHECK(rc == GW_SIO_TOKEN_FOUND);
    PL_CHECK_STR(token("{\"token\":\"Bearer abc\"}", &rc), "abc");
    PL_CHECK(rc == GW_SIO_TOKEN_FOUND);
    PL_CHECK_STR(token("{\"token\":\"a\\/b\"}", &rc), "a/b"); /* escapes decoded */
    PL_CHECK(rc == GW_SIO_TOKEN_FOUND);
    token("", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NONE);
    token("{}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NONE);
    token("{\"token\":null}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NONE);
    token("{\"token\":\"\"}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NONE);
    token("{\"other\":1}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NONE);
    token("[\"token\"]", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NOT_OBJECT);
    token("{\"token\":", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NOT_OBJECT);
    token("\"abc\"", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_NOT_OBJECT);
    token("{\"token\":42}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_BAD);
    token("{\"token\":\"a\\u0000b\"}", &rc); /* a NUL would cut the token short */
    PL_CHECK(rc == GW_SIO_TOKEN_BAD);
    token("{\"token\":\"0123456789012345678901234567890123456789012345678901234567890123\"}", &rc);
    PL_CHECK(rc == GW_SIO_TOKEN_BAD); /* 64 bytes do not fit the 64-byte buffer with its NUL */
}

/* ------------------------------------------------------------ encoders */

static void test_connect_replies(void)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    PL_CHECK(gw_sio_connect_ok(&b, "g-1") == 0);
    PL_CHECK_STR(b.data, "40{\"sid\":\"g-1\"}");
    pl_buf_reset(&b);
    PL_CHECK(gw_sio_connect_error(&b, NULL, 0, "unauthenticated", "invalid token: \"expired\"") ==
             0);
    PL_CHECK_STR(b.data, "44{\"message\":\"invalid token: "
                         "\\\"expired\\\"\",\"data\":{\"code\":\"unauthenticated\"}}");
    pl_buf_reset(&b);
    PL_CHECK(gw_sio_connect_error(&b, "/", 1, "unauthenticated", "no") == 0);
    PL_CHECK_STR(b.data, "44{\"message\":\"no\",\"data\":{\"code\":\"unauthenticated\"}}");
    pl_buf_reset(&b);
    PL_CHECK(gw_sio_connect_error(&b, "/admin", 6, "not_found", "Invalid namespace") == 0);
    PL_CHECK_STR(b.data,
                 "44/admin,{\"message\":\"Invalid namespace\",\"data\":{\"code\":\"not_found\"}}");
    pl_buf_free(&b);
}

static void test_from_json_events(void)
{
    PL_CHECK_STR(wire("{\"type\":\"new_message\",\"message\":{\"id\":1,\"type\":\"x\"}}"),
                 "42[\"new_message\",{\"message\":{\"id\":1,\"type\":\"x\"}}]");
    PL_CHECK_STR(wire("{\"type\":\"pong\"}"), "42[\"pong\",{}]");
    PL_CHECK_STR(wire("{\"a\":1,\"type\":\"x\",\"b\":[1,{\"c\":\"}\"}]}"),
                 "42[\"x\",{\"a\":1,\"b\":[1,{\"c\":\"}\"}]}]");
    PL_CHECK_STR(wire(" { \"type\" : \"x\" , \"s\" : \"a\\\"b,}\" } "),
                 "42[\"x\",{\"s\" : \"a\\\"b,}\"}]");
    /* an id that is not an ack id stays a member of an event */
    PL_CHECK_STR(wire("{\"type\":\"x\",\"id\":\"abc\"}"), "42[\"x\",{\"id\":\"abc\"}]");
    PL_CHECK_STR(wire("{\"type\":\"x\",\"id\":-1}"), "42[\"x\",{\"id\":-1}]");
}

static void test_from_json_acks(void)
{
    PL_CHECK_STR(wire("{\"type\":\"message_sent\",\"message_id\":9,\"seq\":1,\"id\":0}"),
                 "430[{\"type\":\"message_sent\",\"message_id\":9,\"seq\":1}]");
    /* error frames carry the id in the middle: order does not matter */
    PL_CHECK_STR(wire("{\"type\":\"error\",\"id\":12,\"code\":\"forbidden\",\"message\":\"no\"}"),
                 "4312[{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"no\"}]");
    PL_CHECK_STR(wire("{\"type\":\"ack\",\"of\":\"typing_start\",\"id\":3}"),
                 "433[{\"type\":\"ack\",\"of\":\"typing_start\"}]");
    PL_CHECK_STR(wire("{\"type\":\"pong\",\"id\":999999999999999}"),
                 "43999999999999999[{\"type\":\"pong\"}]");
    PL_CHECK_STR(wire("{\"type\":\"pong\",\"id\":1234567890123456}"),
                 "42[\"pong\",{\"id\":1234567890123456}]"); /* too long for an ack id */
}

static void test_from_json_malformed(void)
{
    const char *bad[] = {
        "",
        "{",
        "}",
        "[]",
        "\"type\"",
        "{\"type\":1}",
        "{\"type\":null}",
        "{\"a\":1}",
        "{}",
        "{\"type\":\"x\"",
        "{\"type\":\"x\",}",
        "{\"type\":\"x\" \"a\":1}",
        "{\"type\"\"x\"}",
        "{\"type\":}",
        "{\"type\":\"x\\\"}",
        "{\"type\":\"x\",\"a\":{\"b\":1}",
        "{type:\"x\"}",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        const char *got = wire(bad[i]);
        if (strcmp(got, "ERR") != 0)
            fprintf(stderr, "  input %s gave %s\n", bad[i], got);
        PL_CHECK_STR(got, "ERR");
    }
}

static void test_from_json_prefixes(void)
{
    /* Every prefix of a frame is handled inside its bytes (ASan) and only the whole
       frame converts. */
    const char *full = "{\"type\":\"x\",\"a\":[\"]\",{\"b\":\"\\\\\"}],\"id\":7}";
    for (size_t n = 0; n < strlen(full); n++) {
        pl_buf_t b;
        pl_buf_init(&b, 0);
        PL_CHECK(gw_sio_from_json(dup(full, n), n, &b) == -1);
        PL_CHECK(b.len == 0);
        pl_buf_free(&b);
    }
    PL_CHECK_STR(wire(full), "437[{\"type\":\"x\",\"a\":[\"]\",{\"b\":\"\\\\\"}]}]");
}

static void free_copy(void)
{
    free(s_copy);
}

PL_TEST_MAIN_AROUND(pl_test_nothing_, free_copy,
                    PL_CASE(eio_types),
                    PL_CASE(eio_malformed),
                    PL_CASE(eio_open),
                    PL_CASE(connect),
                    PL_CASE(disconnect),
                    PL_CASE(event),
                    PL_CASE(ack_and_errors),
                    PL_CASE(binary),
                    PL_CASE(malformed_packets),
                    PL_CASE(parse_never_reads_past_len),
                    PL_CASE(event_request),
                    PL_CASE(event_request_malformed),
                    PL_CASE(event_forwards_what_a_frame_does),
                    PL_CASE(auth_token),
                    PL_CASE(connect_replies),
                    PL_CASE(from_json_events),
                    PL_CASE(from_json_acks),
                    PL_CASE(from_json_malformed),
                    PL_CASE(from_json_prefixes))

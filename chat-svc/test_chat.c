/*  Unit tests for chat-svc's parts that need no database: the message and
    conversation objects packed from rows, reaction grouping, the membership cache and
    the batch order. Rows are built with libpq's result constructors, exactly as the
    store would receive them (text format). */
#include <string.h>

#include "chat_handlers.h"
#include "chat_members.h"
#include "chat_pack.h"
#include "chat_store.h"
#include "chat_temp_id.h"
#include "pl_buf.h"
#include "pl_json.h"
#include "pl_mp.h"
#include "pl_test.h"

/* A text-format result with `ncols` columns and the given rows (NULL = SQL NULL). */
static PGresult *rows_of(int ncols, int nrows, const char *const *cells)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att[16];
    memset(att, 0, sizeof att);
    for (int c = 0; c < ncols; c++)
        att[c].name = (char *)"c";
    PQsetResultAttrs(r, ncols, att);
    for (int i = 0; i < nrows; i++)
        for (int c = 0; c < ncols; c++) {
            const char *v = cells[i * ncols + c];
            PQsetvalue(r, i, c, (char *)v, v ? (int)strlen(v) : -1);
        }
    return r;
}

/* Pack with fn into JSON text (caller frees). */
static char *json_of(msgpack_sbuffer *sb)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    pl_buf_t out;
    pl_buf_init(&out, 0);
    if (msgpack_unpack_next(&up, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS)
        pl_msgpack_to_json(&up.data, &out);
    msgpack_unpacked_destroy(&up);
    size_t n;
    char *raw = pl_buf_detach(&out, &n);
    return raw;
}

static void test_reactions_grouped_in_order(void)
{
    const char *cells[] = {
        "7", "x", "u0",                                          /* another message */
        "9", "\xf0\x9f\x91\x8d", "u2", "9", "\xf0\x9f\x91\x8d", "u1", /* 👍 first used */
        "9", "\xe2\x9d\xa4", "u3",                               /* then ❤ */
    };
    PGresult *rx = rows_of(3, 4, cells);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    chat_pack_reactions(&pk, rx, 9);
    char *j = json_of(&sb);
    PL_CHECK_STR(j, "[{\"emoji\":\"\xf0\x9f\x91\x8d\",\"count\":2,\"user_ids\":[\"u2\",\"u1\"]},"
                    "{\"emoji\":\"\xe2\x9d\xa4\",\"count\":1,\"user_ids\":[\"u3\"]}]");
    free(j);
    msgpack_sbuffer_clear(&sb);
    chat_pack_reactions(&pk, rx, 8); /* none */
    j = json_of(&sb);
    PL_CHECK_STR(j, "[]");
    free(j);
    msgpack_sbuffer_clear(&sb);
    chat_pack_reactions(&pk, NULL, 9);
    j = json_of(&sb);
    PL_CHECK_STR(j, "[]");
    free(j);
    msgpack_sbuffer_destroy(&sb);
    PQclear(rx);
}

/* A history row: id, conv, seq, sender, content, reply, attachments, created_us,
   edited_us, deleted, temp_id, has_reactions. */
static char *message_json(const char *const *row, const PGresult *rx)
{
    PGresult *r = rows_of(12, 1, row);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    chat_pack_message(&pk, r, 0, rx);
    char *j = json_of(&sb);
    msgpack_sbuffer_destroy(&sb);
    PQclear(r);
    return j;
}

static void test_message_object(void)
{
    /* attachments: bytea text form of the MessagePack [{"url":"https://x/a"}] */
    const char *row[] = {"501", "7", "12", "u1", "hi", NULL, "\\x9181a375726cab68747470733a2f2f782f61",
                         "1763784871123000", NULL, "f", "t-1", "f"};
    char *j = message_json(row, NULL);
    PL_CHECK_STR(j, "{\"message_id\":501,\"conversation_id\":7,\"seq\":12,\"sender_id\":\"u1\","
                    "\"content\":\"hi\",\"reply_to_id\":null,\"attachments\":[{\"url\":\"https://x/a\"}],"
                    "\"created_at\":\"2025-11-22T04:14:31.123Z\",\"edited_at\":null,\"deleted\":false,"
                    "\"temp_id\":\"t-1\",\"reactions\":[]}");
    free(j);
}

/* A temp_id's stored form, and the JSON it packs back to. */
static char *temp_round_trip(const char *json, char *stored, size_t cap, size_t *len)
{
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    char *back = NULL, err[64];
    if (pl_json_to_msgpack(json, strlen(json), &in, err, sizeof err) == 0) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        if (msgpack_unpack_next(&up, in.data, in.size, &off) == MSGPACK_UNPACK_SUCCESS) {
            *len = chat_temp_id_store(&up.data, stored, cap);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, 1);
            chat_temp_id_pack(&pk, stored, *len);
            back = json_of(&out);
        }
        msgpack_unpacked_destroy(&up);
    }
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
    return back;
}

static void test_temp_id_keeps_its_type(void)
{
    static const struct {
        const char *json, *stored, *back;
    } cases[] = {
        {"12345", "#12345", "{\"temp_id\":12345}"},
        {"-7", "#-7", "{\"temp_id\":-7}"},
        {"\"12345\"", "12345", "{\"temp_id\":\"12345\"}"},
        {"\"c-17\"", "c-17", "{\"temp_id\":\"c-17\"}"},
        {"\"#1\"", "##1", "{\"temp_id\":\"#1\"}"},
        {"\"#\"", "##", "{\"temp_id\":\"#\"}"},
        {"\"##x\"", "###x", "{\"temp_id\":\"##x\"}"},
        {"9223372036854775807", "#9223372036854775807", "{\"temp_id\":9223372036854775807}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char stored[CHAT_TEMP_ID_STORED_MAX + 1];
        size_t len = 0;
        char *back = temp_round_trip(cases[i].json, stored, CHAT_TEMP_ID_STORED_MAX, &len);
        stored[len] = '\0';
        PL_CHECK_STR(stored, cases[i].stored);
        PL_CHECK_STR(back, cases[i].back);
        free(back);
    }
    /* rows from before migration 5: plain digits and '#' + non-digits stay strings */
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    chat_temp_id_pack(&pk, "#12a", 4);
    char *j = json_of(&out);
    PL_CHECK_STR(j, "{\"temp_id\":\"#12a\"}");
    free(j);
    msgpack_sbuffer_destroy(&out);
    /* no temp_id: nil, a float, a map */
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    char buf[8];
    PL_CHECK(chat_temp_id_store(&nil, buf, sizeof buf) == 0);
    PL_CHECK(chat_temp_id_store(NULL, buf, sizeof buf) == 0);
}

static void test_deleted_message_is_blank(void)
{
    /* Even if a row still held content, a deleted message shows none. */
    const char *row[] = {"501", "7", "12", "u1", "secret", "499", "\\x9181a375726cab68747470733a2f2f782f61",
                         "1763784871123000", "1763784872000000", "t", NULL, "f"};
    char *j = message_json(row, NULL);
    PL_CHECK(strstr(j, "\"content\":\"\"") != NULL);
    PL_CHECK(strstr(j, "\"attachments\":[]") != NULL);
    PL_CHECK(strstr(j, "\"deleted\":true") != NULL);
    PL_CHECK(strstr(j, "\"reply_to_id\":499") != NULL);
    PL_CHECK(strstr(j, "\"temp_id\":null") != NULL);
    PL_CHECK(strstr(j, "secret") == NULL);
    free(j);
}

static void test_conversation_object(void)
{
    const char *cells[] = {"7", "group",  NULL, "12", "a\x1f" "b\x1f" "c", "3", "12,0,9",
                           "8", "direct", NULL, "0",  "solo",               "0", "0",
                           "9", "group",  NULL, "4",  "x\x1f" "y",          "0", "4"};
    PGresult *r = rows_of(7, 3, cells);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    chat_pack_conversation(&pk, r, 0);
    char *j = json_of(&sb);
    PL_CHECK_STR(j, "{\"conversation_id\":7,\"kind\":\"group\",\"title\":null,"
                    "\"participants\":[\"a\",\"b\",\"c\"],\"last_seq\":12,\"unread_count\":3,"
                    "\"read_positions\":{\"a\":12,\"b\":0,\"c\":9}}");
    free(j);
    msgpack_sbuffer_clear(&sb);
    chat_pack_conversation(&pk, r, 1);
    j = json_of(&sb);
    PL_CHECK(strstr(j, "\"participants\":[\"solo\"]") != NULL);
    PL_CHECK(strstr(j, "\"read_positions\":{\"solo\":0}") != NULL);
    free(j);
    msgpack_sbuffer_clear(&sb);
    /* a positions list shorter than the participants (never made by the store) reads
       the missing ones as 0 and packs a well-formed map */
    chat_pack_conversation(&pk, r, 2);
    j = json_of(&sb);
    PL_CHECK(strstr(j, "\"read_positions\":{\"x\":4,\"y\":0}") != NULL);
    free(j);
    msgpack_sbuffer_destroy(&sb);
    PQclear(r);
}

static void test_members_cache(void)
{
    chat_members_t *m = chat_members_new(2);
    PL_CHECK(m != NULL);
    int exists = 0, member = 0;
    chat_members_remember(m, 7, "u1");
    /* A hit needs no database (db NULL would fail the query). */
    PL_CHECK(chat_members_check(m, NULL, 7, "u1", &exists, &member) == 0);
    PL_CHECK(exists && member);
    PL_CHECK(chat_members_check(m, NULL, 7, "u2", &exists, &member) == -1);
    PL_CHECK(chat_members_check(m, NULL, 8, "u1", &exists, &member) == -1);
    chat_members_remember(m, 7, "u2");
    PL_CHECK(chat_members_size(m) == 2);
    chat_members_remember(m, 9, "u3"); /* full: emptied, then this one */
    PL_CHECK(chat_members_size(m) == 1);
    PL_CHECK(chat_members_check(m, NULL, 9, "u3", &exists, &member) == 0);
    chat_members_destroy(&m);
    PL_CHECK(m == NULL);
    chat_members_destroy(&m); /* NULL-safe */
}

static int64_t key_of(const char *body_json)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[64];
    pl_json_to_msgpack(body_json, strlen(body_json), &sb, err, sizeof err);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, sb.data, sb.size, &off);
    proto_request_t req;
    memset(&req, 0, sizeof req);
    req.body = &up.data;
    int64_t k = chat_order_key(&req);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return k;
}

static void test_batch_order(void)
{
    PL_CHECK(key_of("{\"conversation_id\":5}") == 5);
    PL_CHECK(key_of("{\"conversation_id\":6,\"seq\":1}") == 6);
    /* message events come after every conversation event, in message order */
    PL_CHECK(key_of("{\"message_id\":1}") > key_of("{\"conversation_id\":4000000000}"));
    PL_CHECK(key_of("{\"message_id\":1}") < key_of("{\"message_id\":2}"));
    PL_CHECK(key_of("{\"message_id\":9223372036854775807}") == INT64_MAX);
    PL_CHECK(key_of("{}") == 0);
}

PL_TEST_MAIN(PL_CASE(reactions_grouped_in_order),
             PL_CASE(message_object),
             PL_CASE(temp_id_keeps_its_type),
             PL_CASE(deleted_message_is_blank),
             PL_CASE(conversation_object),
             PL_CASE(members_cache),
             PL_CASE(batch_order))

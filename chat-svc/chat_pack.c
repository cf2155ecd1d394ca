/*  chat_pack: protocol objects from database rows (see chat_pack.h). */
#include "chat_pack.h"

#include <stdlib.h>
#include <string.h>

#include "chat_store.h"
#include "chat_temp_id.h"
#include "pl_clock.h"
#include "pl_mp.h"
#include "pl_pg.h"

#define MESSAGE_FIELDS 12

void chat_pack_time(msgpack_packer *pk, const char *key, const PGresult *r, int row, int col)
{
    if (pl_pg_null(r, row, col)) {
        pl_pack_kv_nil(pk, key);
        return;
    }
    char iso[32];
    pl_iso8601_ms(pl_pg_int(r, row, col), iso, sizeof iso);
    pl_pack_kv_str(pk, key, iso);
}

static void pack_text(msgpack_packer *pk, const char *key, const PGresult *r, int row, int col)
{
    if (pl_pg_null(r, row, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_strn(pk, key, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static void pack_int_or_nil(msgpack_packer *pk, const char *key, const PGresult *r, int row,
                            int col)
{
    if (pl_pg_null(r, row, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_int(pk, key, pl_pg_int(r, row, col));
}

/* The next item of a list joined by `sep`: its length; *list moves past it (and
   stays at the end once there, so a short list reads as empty items). */
static size_t next_item(const char **list, char sep, const char **item)
{
    const char *s = *list, *end = strchr(s, sep);
    size_t n = end ? (size_t)(end - s) : strlen(s);
    *item = s;
    *list = s + n + (end ? 1 : 0);
    return n;
}

void chat_pack_conversation(msgpack_packer *pk, const PGresult *r, int row)
{
    /* The store joins the ids with 0x1f, which a user id cannot contain (the gateway
       refuses control characters in `sub`, chat-svc in participants). */
    const char *ids = PQgetvalue(r, row, CV_PARTICIPANTS), *item;
    size_t count = 0;
    for (const char *s = ids; *s; s++)
        count += *s == '\x1f';
    count += *ids ? 1 : 0;
    msgpack_pack_map(pk, 7);
    pl_pack_kv_int(pk, "conversation_id", pl_pg_int(r, row, CV_ID));
    pack_text(pk, "kind", r, row, CV_KIND);
    pack_text(pk, "title", r, row, CV_TITLE);
    pl_pack_str(pk, "participants");
    msgpack_pack_array(pk, count);
    for (const char *list = ids; *list;) {
        size_t n = next_item(&list, '\x1f', &item);
        pl_pack_strn(pk, item, n);
    }
    pl_pack_kv_int(pk, "last_seq", pl_pg_int(r, row, CV_LAST_SEQ));
    pl_pack_kv_int(pk, "unread_count", pl_pg_int(r, row, CV_UNREAD));
    /* {user_id: seq}, the two lists walked side by side (same order, same length). */
    pl_pack_str(pk, "read_positions");
    msgpack_pack_map(pk, count);
    const char *seqs = PQgetvalue(r, row, CV_READ_SEQS);
    for (const char *list = ids; *list;) {
        size_t n = next_item(&list, '\x1f', &item);
        pl_pack_strn(pk, item, n);
        next_item(&seqs, ',', &item);
        msgpack_pack_int64(pk, strtoll(item, NULL, 10));
    }
}

/* Attachments are stored as the MessagePack they were validated into; unpack them to
   embed. */
static void pack_attachments(msgpack_packer *pk, const PGresult *r, int row, int col)
{
    pl_pack_str(pk, "attachments");
    if (pl_pg_null(r, row, col)) {
        msgpack_pack_array(pk, 0);
        return;
    }
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (raw && msgpack_unpack_next(&up, (const char *)raw, n, &off) == MSGPACK_UNPACK_SUCCESS)
        msgpack_pack_object(pk, up.data);
    else
        msgpack_pack_array(pk, 0);
    msgpack_unpacked_destroy(&up);
    PQfreemem(raw);
}

static int same_text(const PGresult *r, int a, int b, int col)
{
    int n = PQgetlength(r, a, col);
    return n == PQgetlength(r, b, col) && memcmp(PQgetvalue(r, a, col), PQgetvalue(r, b, col),
                                                 (size_t)n) == 0;
}

/* Rows [first, end) of `rx` that belong to message_id; the result is grouped by
   message, so they are consecutive. */
static int message_rows(const PGresult *rx, int64_t message_id, int *first)
{
    int n = rx ? PQntuples(rx) : 0, i = 0;
    while (i < n && pl_pg_int(rx, i, RC_MSG) != message_id)
        i++;
    *first = i;
    while (i < n && pl_pg_int(rx, i, RC_MSG) == message_id)
        i++;
    return i;
}

void chat_pack_reactions(msgpack_packer *pk, const PGresult *rx, int64_t message_id)
{
    int first, end = message_rows(rx, message_id, &first);
    size_t groups = 0;
    for (int i = first; i < end; i++)
        groups += i == first || !same_text(rx, i, i - 1, RC_EMOJI);
    msgpack_pack_array(pk, groups);
    for (int i = first; i < end;) {
        int j = i + 1;
        while (j < end && same_text(rx, j, i, RC_EMOJI))
            j++;
        msgpack_pack_map(pk, 3);
        pack_text(pk, "emoji", rx, i, RC_EMOJI);
        pl_pack_kv_int(pk, "count", j - i);
        pl_pack_str(pk, "user_ids");
        msgpack_pack_array(pk, (size_t)(j - i));
        for (int k = i; k < j; k++)
            pl_pack_strn(pk, PQgetvalue(rx, k, RC_USER), (size_t)PQgetlength(rx, k, RC_USER));
        i = j;
    }
}

void chat_pack_message(msgpack_packer *pk, const PGresult *r, int row, const PGresult *reactions)
{
    int deleted = PQgetvalue(r, row, HC_DELETED)[0] == 't';
    int64_t id = pl_pg_int(r, row, HC_ID);
    msgpack_pack_map(pk, MESSAGE_FIELDS);
    pl_pack_kv_int(pk, "message_id", id);
    pl_pack_kv_int(pk, "conversation_id", pl_pg_int(r, row, HC_CONV));
    pl_pack_kv_int(pk, "seq", pl_pg_int(r, row, HC_SEQ));
    if (PQgetlength(r, row, HC_SENDER) == 0) /* a system message (chat_api.c) */
        pl_pack_kv_nil(pk, "sender_id");
    else
        pack_text(pk, "sender_id", r, row, HC_SENDER);
    /* The store already blanked a deleted message; this keeps the promise even for
       rows deleted before that rule. */
    if (deleted)
        pl_pack_kv_str(pk, "content", "");
    else
        pack_text(pk, "content", r, row, HC_CONTENT);
    pack_int_or_nil(pk, "reply_to_id", r, row, HC_REPLY);
    if (deleted) {
        pl_pack_str(pk, "attachments");
        msgpack_pack_array(pk, 0);
    } else {
        pack_attachments(pk, r, row, HC_ATT);
    }
    chat_pack_time(pk, "created_at", r, row, HC_CREATED);
    chat_pack_time(pk, "edited_at", r, row, HC_EDITED);
    pl_pack_kv_bool(pk, "deleted", deleted);
    if (pl_pg_null(r, row, HC_TEMP))
        pl_pack_kv_nil(pk, "temp_id");
    else
        chat_temp_id_pack(pk, PQgetvalue(r, row, HC_TEMP), (size_t)PQgetlength(r, row, HC_TEMP));
    pl_pack_str(pk, "reactions");
    chat_pack_reactions(pk, reactions, id);
}

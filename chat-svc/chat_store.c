/*  chat_store: chat-svc's SQL (see chat_store.h). Prepared statements only: user
    input never becomes SQL text. Text parameters go in binary format with explicit
    lengths, so values need no NUL terminator and are passed exactly as received. */
#include "chat_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_COLS                                                                         \
    "m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.reply_to_id, m.attachments," \
    " (extract(epoch FROM m.created_at) * 1000000)::bigint,"                             \
    " (extract(epoch FROM m.edited_at) * 1000000)::bigint, m.deleted, m.temp_id"

#define CONV_COLS                                                                        \
    "c.id, c.kind, c.title, c.last_seq,"                                                 \
    " (SELECT string_agg(pp.user_id, E'\\x1f' ORDER BY pp.user_id)"                      \
    "    FROM chat.participants pp WHERE pp.conversation_id = c.id),"                    \
    " (SELECT count(*) FROM chat.messages m WHERE m.conversation_id = c.id"              \
    "    AND m.seq > p.read_seq AND m.sender_id <> p.user_id AND NOT m.deleted)"

const pl_stmt_t chat_stmts[] = {
    {"post", "SELECT status, message_id, seq, created_us FROM chat.post_message($1::bigint, $2,"
             " $3, $4::bigint, $5::bytea, $6)", 6},
    {"access", "SELECT EXISTS(SELECT 1 FROM chat.conversations WHERE id = $1::bigint),"
               " EXISTS(SELECT 1 FROM chat.participants WHERE conversation_id = $1::bigint"
               " AND user_id = $2)", 2},
    {"find_direct", "SELECT id FROM chat.conversations WHERE direct_key = $1", 1},
    {"insert_conv", "INSERT INTO chat.conversations(kind, title, direct_key, created_by)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (direct_key) DO NOTHING RETURNING id", 4},
    {"insert_participant", "INSERT INTO chat.participants(conversation_id, user_id)"
                           " VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING", 2},
    {"user_convs", "SELECT " CONV_COLS " FROM chat.participants p JOIN chat.conversations c"
                   " ON c.id = p.conversation_id WHERE p.user_id = $1 ORDER BY c.id", 1},
    {"one_conv", "SELECT " CONV_COLS " FROM chat.participants p JOIN chat.conversations c"
                 " ON c.id = p.conversation_id WHERE c.id = $1::bigint AND p.user_id = $2", 2},
    {"history_asc", "SELECT " MSG_COLS " FROM chat.messages m WHERE m.conversation_id = $1::bigint"
                    " AND ($2::bigint IS NULL OR m.seq > $2::bigint)"
                    " AND ($3::bigint IS NULL OR m.seq < $3::bigint)"
                    " ORDER BY m.seq ASC LIMIT $4::bigint", 4},
    {"history_desc", "SELECT " MSG_COLS " FROM chat.messages m WHERE m.conversation_id = $1::bigint"
                     " AND ($2::bigint IS NULL OR m.seq > $2::bigint)"
                     " AND ($3::bigint IS NULL OR m.seq < $3::bigint)"
                     " ORDER BY m.seq DESC LIMIT $4::bigint", 4},
    {NULL, NULL, 0}};

/* Parameters for one statement: values, lengths, formats, and room for numbers. */
typedef struct {
    const char *v[8];
    int len[8];
    int fmt[8];
    char num[8][24];
    int n;
} params_t;

static void p_int(params_t *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%" PRId64, x);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

static void p_opt_int(params_t *p, const int64_t *x)
{
    if (x) {
        p_int(p, *x);
        return;
    }
    p->v[p->n] = NULL;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

/* Binary format: text/bytea values are their bytes. A NULL ptr is SQL NULL. */
static void p_bytes(params_t *p, const char *s, size_t len)
{
    p->v[p->n] = s;
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = s ? 1 : 0;
}

static void p_cstr(params_t *p, const char *s)
{
    p_bytes(p, s, s ? strlen(s) : 0);
}

static PGresult *run(PGconn *db, const char *stmt, params_t *p)
{
    return pl_pg_run_ex(db, stmt, p->n, p->v, p->len, p->fmt);
}

int chat_store_post(PGconn *db, int64_t conv, const char *sender, chat_str_t content,
                    const int64_t *reply_to, chat_str_t attachments, chat_str_t temp_id,
                    chat_posted_t *out)
{
    params_t p = {.n = 0};
    p_int(&p, conv);
    p_cstr(&p, sender);
    p_bytes(&p, content.ptr, content.len);
    p_opt_int(&p, reply_to);
    p_bytes(&p, attachments.ptr, attachments.len);
    p_bytes(&p, temp_id.ptr, temp_id.len);
    PGresult *r = run(db, "post", &p);
    if (!r)
        return -1;
    const char *st = PQgetvalue(r, 0, 0);
    out->status = strcmp(st, "ok") == 0          ? CHAT_OK
                  : strcmp(st, "duplicate") == 0 ? CHAT_DUPLICATE
                  : strcmp(st, "forbidden") == 0 ? CHAT_FORBIDDEN
                  : strcmp(st, "bad_reply") == 0 ? CHAT_BAD_REPLY
                                                 : CHAT_NOT_FOUND;
    out->message_id = pl_pg_int(r, 0, 1);
    out->seq = pl_pg_int(r, 0, 2);
    out->created_us = pl_pg_int(r, 0, 3);
    PQclear(r);
    return 0;
}

int chat_store_access(PGconn *db, int64_t conv, const char *user, int *exists, int *member)
{
    params_t p = {.n = 0};
    p_int(&p, conv);
    p_cstr(&p, user);
    PGresult *r = run(db, "access", &p);
    if (!r)
        return -1;
    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    *member = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    return 0;
}

static int find_direct(PGconn *db, const char *key, int64_t *conv)
{
    params_t p = {.n = 0};
    p_cstr(&p, key);
    PGresult *r = run(db, "find_direct", &p);
    if (!r)
        return -1;
    *conv = PQntuples(r) ? pl_pg_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

/* "a\x1fb" with the two ids in byte order: the same pair always gives the same key. */
static char *direct_key(const char *const *ids)
{
    const char *a = ids[0], *b = ids[1];
    if (strcmp(a, b) > 0) {
        const char *t = a;
        a = b;
        b = t;
    }
    size_t n = strlen(a) + strlen(b) + 2;
    char *key = malloc(n);
    if (key)
        snprintf(key, n, "%s\x1f%s", a, b);
    return key;
}

int chat_store_create(PGconn *db, const char *kind, chat_str_t title, const char *creator,
                      const char *const *participants, size_t n, int64_t *conv, int *created)
{
    char *key = NULL;
    int rc = -1;
    *created = 0;
    if (strcmp(kind, "direct") == 0) {
        if (!(key = direct_key(participants)))
            return -1;
        if (find_direct(db, key, conv))
            goto done;
        if (*conv) {
            rc = 0;
            goto done;
        }
    }
    params_t p = {.n = 0};
    p_cstr(&p, kind);
    p_bytes(&p, title.ptr, title.len);
    p_cstr(&p, key);
    p_cstr(&p, creator);
    PGresult *r = run(db, "insert_conv", &p);
    if (!r)
        goto done;
    if (PQntuples(r) == 0) {
        /* Another instance created the same direct conversation just now: ours lost
           ON CONFLICT, and the winner is visible to our next statement. */
        PQclear(r);
        if (find_direct(db, key, conv) || !*conv)
            goto done;
        rc = 0;
        goto done;
    }
    *conv = pl_pg_int(r, 0, 0);
    PQclear(r);
    for (size_t i = 0; i < n; i++) {
        params_t q = {.n = 0};
        p_int(&q, *conv);
        p_cstr(&q, participants[i]);
        PGresult *ri = run(db, "insert_participant", &q);
        if (!ri)
            goto done;
        PQclear(ri);
    }
    *created = 1;
    rc = 0;
done:
    free(key);
    return rc;
}

PGresult *chat_store_user_conversations(PGconn *db, const char *user)
{
    params_t p = {.n = 0};
    p_cstr(&p, user);
    return run(db, "user_convs", &p);
}

PGresult *chat_store_conversation(PGconn *db, int64_t conv, const char *user)
{
    params_t p = {.n = 0};
    p_int(&p, conv);
    p_cstr(&p, user);
    return run(db, "one_conv", &p);
}

PGresult *chat_store_history(PGconn *db, int64_t conv, int64_t after, int64_t before,
                             int64_t limit_plus_one, int descending)
{
    params_t p = {.n = 0};
    p_int(&p, conv);
    p_opt_int(&p, after >= 0 ? &after : NULL);
    p_opt_int(&p, before >= 0 ? &before : NULL);
    p_int(&p, limit_plus_one);
    return run(db, descending ? "history_desc" : "history_asc", &p);
}

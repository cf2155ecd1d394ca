/*  chat_store: chat-svc's SQL (see chat_store.h). Prepared statements only: user
    input never becomes SQL text. Text parameters go in binary format with explicit
    lengths, so values need no NUL terminator and are passed exactly as received. */
#include "chat_store.h"

#include "pl_buf.h"
#include "pl_pg_array.h"
#include "pl_log.h"
#include "pl_webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_COLS                                                                         \
    "m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.reply_to_id, m.attachments," \
    " (extract(epoch FROM m.created_at) * 1000000)::bigint,"                             \
    " (extract(epoch FROM m.edited_at) * 1000000)::bigint, m.deleted, m.temp_id,"      \
    " EXISTS(SELECT 1 FROM chat.reactions r WHERE r.message_id = m.id)"

/* A conversation row (chat_store.h, CV_*). The participants and their read positions
   come from one walk of the conversation's primary-key range (at most 256 rows), as
   two lists in the same user order; one statement answers for all of a user's
   conversations. */
#define CONV_COLS                                                                        \
    "c.id, c.kind, c.title, c.last_seq, pl.ids,"                                         \
    " (SELECT count(*) FROM chat.messages m WHERE m.conversation_id = c.id"              \
    "    AND m.seq > p.read_seq AND m.sender_id <> p.user_id AND NOT m.deleted),"        \
    " pl.seqs"
#define CONV_FROM                                                                        \
    " FROM chat.participants p JOIN chat.conversations c ON c.id = p.conversation_id"    \
    " CROSS JOIN LATERAL (SELECT string_agg(pp.user_id, E'\\x1f' ORDER BY pp.user_id) AS ids," \
    "   string_agg(pp.read_seq::text, ',' ORDER BY pp.user_id) AS seqs"                 \
    "   FROM chat.participants pp WHERE pp.conversation_id = c.id) pl"

/* The message path in one statement, for the common case: the sender is a
   participant, the reply target (if any) is in the conversation and the temp_id (if
   any) is new. The UPDATE takes the conversation's row lock and the next seq only
   when all three hold; the message, the sender's read position and the
   notification rows of participants marked away (chat_schema.c) follow from it. No
   row back means one of the three failed (or a racing transaction changed the
   answer while we waited for the lock): chat.post_message then decides, step by
   step with fresh snapshots. Measured against calling the function every time:
   docs/performance.md. */
#define POST_FAST                                                                        \
    "WITH s AS (UPDATE chat.conversations c SET last_seq = c.last_seq + 1"                \
    "  WHERE c.id = $1::bigint"                                                          \
    "    AND EXISTS (SELECT 1 FROM chat.participants p"                                  \
    "                 WHERE p.conversation_id = $1::bigint AND p.user_id = $2)"          \
    "    AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM chat.messages m"               \
    "                 WHERE m.id = $4::bigint AND m.conversation_id = $1::bigint))"      \
    "    AND ($6::text IS NULL OR NOT EXISTS (SELECT 1 FROM chat.messages m"             \
    "                 WHERE m.conversation_id = $1::bigint AND m.sender_id = $2"         \
    "                   AND m.temp_id = $6::text))"                                      \
    "  RETURNING c.last_seq),"                                                           \
    " ins AS (INSERT INTO chat.messages(conversation_id, seq, sender_id, content,"       \
    "           reply_to_id, attachments, temp_id)"                                      \
    "  SELECT $1::bigint, s.last_seq, $2, $3, $4::bigint, $5::bytea, $6::text FROM s"    \
    "  RETURNING id, seq, created_at),"                                                  \
    " me AS (UPDATE chat.participants p SET read_seq = ins.seq FROM ins"                 \
    "  WHERE p.conversation_id = $1::bigint AND p.user_id = $2),"                        \
    " n AS (INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"   \
    "  SELECT p.user_id, $1::bigint, ins.id, ins.seq"                                    \
    "    FROM ins JOIN chat.participants p ON p.conversation_id = $1::bigint"            \
    "   WHERE p.away AND p.user_id <> $2)"                                               \
    " SELECT 'ok'::text, ins.id, ins.seq, (extract(epoch FROM ins.created_at) * 1000000)::bigint" \
    "   FROM ins"

/* A batch's messages in one statement, after LOCK_CONVS (same transaction, same
   pipeline). The lock statement takes the batch's conversation rows in id order, so
   instances never deadlock, and this statement's snapshot is taken after those locks
   are held: its checks see every message committed before, and nothing can commit
   into these conversations until we do. Per conversation, last_seq moves once by the
   number of accepted messages, which are numbered in batch order. Refused requests
   (not a participant, foreign reply, temp_id seen before or earlier in the batch)
   return no row: chat.post_message decides them one by one. Every probe of a big
   table carries OFFSET 0, which keeps it a per-row index probe: the plan is generic
   and made once, and with the statistics of a young table the planner would
   otherwise hash all of chat.messages for each batch. Measured against a statement
   per message: docs/performance.md. */
#define LOCK_CONVS                                                                       \
    "SELECT c.id FROM chat.conversations c WHERE c.id = ANY($1::bigint[])"               \
    " ORDER BY c.id FOR NO KEY UPDATE"

#define POST_BATCH                                                                       \
    "WITH req AS MATERIALIZED (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]," \
    "      $4::bigint[], $5::bytea[], $6::text[])"                                       \
    "      WITH ORDINALITY AS r(conv, sender, content, reply, att, temp, i)),"           \
    " ok AS MATERIALIZED (SELECT r.* FROM req r"                                         \
    "   WHERE EXISTS (SELECT 1 FROM chat.participants p"                                 \
    "                  WHERE p.conversation_id = r.conv AND p.user_id = r.sender)"       \
    "     AND (r.reply IS NULL OR EXISTS (SELECT 1 FROM chat.messages m"                 \
    "                  WHERE m.id = r.reply AND m.conversation_id = r.conv OFFSET 0))"   \
    "     AND NOT EXISTS (SELECT 1 FROM chat.messages m" /* a NULL temp matches none */ \
    "                  WHERE m.conversation_id = r.conv AND m.sender_id = r.sender"      \
    "                    AND m.temp_id = r.temp OFFSET 0)"                               \
    "     AND NOT EXISTS (SELECT 1 FROM req e WHERE e.i < r.i AND e.conv = r.conv"       \
    "                  AND e.sender = r.sender AND e.temp = r.temp)),"                   \
    " cnt AS (SELECT conv, count(*) AS n FROM ok GROUP BY conv),"                        \
    " s AS (UPDATE chat.conversations c SET last_seq = c.last_seq + cnt.n FROM cnt"      \
    "   WHERE c.id = cnt.conv RETURNING c.id, c.last_seq - cnt.n AS base),"              \
    " num AS MATERIALIZED (SELECT ok.*,"                                                 \
    "   s.base + row_number() OVER (PARTITION BY ok.conv ORDER BY ok.i) AS seq"          \
    "   FROM ok JOIN s ON s.id = ok.conv),"                                              \
    " ins AS (INSERT INTO chat.messages(conversation_id, seq, sender_id, content,"       \
    "           reply_to_id, attachments, temp_id)"                                      \
    "   SELECT conv, seq, sender, content, reply, att, temp FROM num ORDER BY i"         \
    "   RETURNING id, conversation_id, seq, sender_id, created_at),"                     \
    " me AS (UPDATE chat.participants p SET read_seq = x.seq"                            \
    "   FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM ins GROUP BY 1, 2) x" \
    "   WHERE p.conversation_id = x.conversation_id AND p.user_id = x.sender_id),"       \
    /* who to notify: a probe of the partial index participants_away per conversation */ \
    " away AS (SELECT p.conversation_id, p.user_id FROM chat.participants p"             \
    "   WHERE p.conversation_id IN (SELECT id FROM s) AND p.away),"                      \
    " n AS (INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"   \
    "   SELECT a.user_id, ins.conversation_id, ins.id, ins.seq FROM ins"                 \
    "     JOIN away a ON a.conversation_id = ins.conversation_id"                        \
    "    WHERE a.user_id <> ins.sender_id)"                                              \
    " SELECT num.i, ins.id, ins.seq, (extract(epoch FROM ins.created_at) * 1000000)::bigint" \
    "   FROM ins JOIN num ON num.conv = ins.conversation_id AND num.seq = ins.seq"

/* The per-user cap, for the users among the next $2 rows after id $1 (rows arrived
   since the last sweep): each keeps its $3 newest rows; the older ones go, oldest
   first, at most $4 per user and sweep. Rows locked by a mark_read in progress are
   skipped (it deletes them), and the kept rows are not locked. Returns the highest id
   read ($1 if none), the rows deleted, and whether a user used up the $4 budget (the
   caller then reads the same rows again next time). */
#define NOTIF_TRIM                                                                       \
    "WITH fresh AS MATERIALIZED (SELECT id, user_id FROM chat.notifications"             \
    "   WHERE id > $1::bigint ORDER BY id LIMIT $2::int),"                               \
    " extra AS MATERIALIZED (SELECT x.id, u.user_id"                                     \
    "   FROM (SELECT DISTINCT user_id FROM fresh) u"                                     \
    "   CROSS JOIN LATERAL (SELECT c.id AS keep_from FROM chat.notifications c"          \
    "     WHERE c.user_id = u.user_id ORDER BY c.id DESC OFFSET $3::int - 1 LIMIT 1) k"  \
    "   CROSS JOIN LATERAL (SELECT m.id FROM chat.notifications m"                       \
    "     WHERE m.user_id = u.user_id AND m.id < k.keep_from"                            \
    "     ORDER BY m.id LIMIT $4::int FOR UPDATE SKIP LOCKED) x),"                       \
    " gone AS (DELETE FROM chat.notifications n USING extra WHERE n.id = extra.id"       \
    "   RETURNING n.id)"                                                                 \
    " SELECT coalesce((SELECT max(id) FROM fresh), $1::bigint), (SELECT count(*) FROM gone)," \
    "  coalesce((SELECT max(k.c) FROM (SELECT count(*) AS c FROM extra GROUP BY user_id) k)," \
    "   0) >= $4::int"

const pl_stmt_t chat_stmts[] = {
    {"post_fast", POST_FAST, 6},
    {"lock_convs", LOCK_CONVS, 1},
    {"post_batch", POST_BATCH, 6},
    {"post", "SELECT status, message_id, seq, created_us FROM chat.post_message($1::bigint, $2,"
             " $3, $4::bigint, $5::bytea, $6)", 6},
    {"post_system", "SELECT status, message_id, seq, created_us FROM"
                    " chat.post_system_message($1::bigint, $2, $3, $4::bigint, $5::bytea, $6)", 6},
    /* the server API (chat_api.c) */
    {"conv_system", "SELECT c.id, c.kind, c.title, c.last_seq,"
                    " (SELECT string_agg(pp.user_id, E'\\x1f' ORDER BY pp.user_id)"
                    "    FROM chat.participants pp WHERE pp.conversation_id = c.id), 0::bigint,"
                    " (SELECT string_agg(pp.read_seq::text, ',' ORDER BY pp.user_id)"
                    "    FROM chat.participants pp WHERE pp.conversation_id = c.id)"
                    " FROM chat.conversations c WHERE c.id = $1::bigint", 1},
    {"conv_lock", "SELECT c.kind, (SELECT count(*) FROM chat.participants p"
                  "  WHERE p.conversation_id = c.id)"
                  " FROM chat.conversations c WHERE c.id = $1::bigint FOR UPDATE", 1},
    {"add_participant", "INSERT INTO chat.participants(conversation_id, user_id)"
                        " VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING RETURNING 1", 2},
    {"remove_participant", "WITH d AS (DELETE FROM chat.participants"
                           "  WHERE conversation_id = $1::bigint AND user_id = $2 RETURNING 1),"
                           " n AS (DELETE FROM chat.notifications"
                           "  WHERE conversation_id = $1::bigint AND user_id = $2"
                           "    AND EXISTS (SELECT 1 FROM d))"
                           " SELECT count(*) FROM d", 2},
    {"access", "SELECT EXISTS(SELECT 1 FROM chat.conversations WHERE id = $1::bigint),"
               " EXISTS(SELECT 1 FROM chat.participants WHERE conversation_id = $1::bigint"
               " AND user_id = $2)", 2},
    {"find_direct", "SELECT id FROM chat.conversations WHERE direct_key = $1", 1},
    /* Creations are counted per user under a per-user lock, so that two instances
       creating for the same user at once count each other's (the second waits, then
       its count, a new statement, sees the first's commit). */
    {"lock_creator", "SELECT pg_advisory_xact_lock(hashtext('parley.chat.create'), hashtext($1))",
     1},
    {"created_lately", "SELECT count(*) FROM chat.conversations WHERE created_by = $1"
                       " AND created_at > clock_timestamp() - interval '1 minute'", 1},
    {"insert_conv", "INSERT INTO chat.conversations(kind, title, direct_key, created_by)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (direct_key) DO NOTHING RETURNING id", 4},
    {"insert_participant", "INSERT INTO chat.participants(conversation_id, user_id)"
                           " VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING", 2},
    {"user_convs", "SELECT " CONV_COLS CONV_FROM " WHERE p.user_id = $1 ORDER BY c.id", 1},
    /* Several users' at once (chat_store_sessions): the user is the last column. */
    {"user_convs_many", "SELECT " CONV_COLS ", p.user_id" CONV_FROM
                        " WHERE p.user_id = ANY($1::text[]) ORDER BY p.user_id, c.id", 1},
    {"one_conv", "SELECT " CONV_COLS CONV_FROM " WHERE c.id = $1::bigint AND p.user_id = $2", 2},
    {"history_asc", "SELECT " MSG_COLS " FROM chat.messages m WHERE m.conversation_id = $1::bigint"
                    " AND ($2::bigint IS NULL OR m.seq > $2::bigint)"
                    " AND ($3::bigint IS NULL OR m.seq < $3::bigint)"
                    " ORDER BY m.seq ASC LIMIT $4::bigint", 4},
    {"history_desc", "SELECT " MSG_COLS " FROM chat.messages m WHERE m.conversation_id = $1::bigint"
                     " AND ($2::bigint IS NULL OR m.seq > $2::bigint)"
                     " AND ($3::bigint IS NULL OR m.seq < $3::bigint)"
                     " ORDER BY m.seq DESC LIMIT $4::bigint", 4},
    {"one_msg", "SELECT " MSG_COLS " FROM chat.messages m WHERE m.id = $1::bigint", 1},
    /* Emoji groups in the order each was first used: what a client shows left to
       right, stable as reactions come and go within a group. */
    {"reactions", "SELECT r.message_id, r.emoji, r.user_id FROM chat.reactions r"
                  " WHERE r.message_id = ANY($1::bigint[])"
                  " ORDER BY r.message_id,"
                  " min(r.created_at) OVER (PARTITION BY r.message_id, r.emoji),"
                  " r.emoji, r.created_at, r.user_id", 1},
    {"mark_read", "SELECT status, read_seq, moved, read_us"
                  " FROM chat.mark_read($1::bigint, $2, $3::bigint)", 3},
    {"change", "SELECT chat.change_message($1::bigint, $2, $3, $4::boolean)", 4},
    {"react", "SELECT status, conversation_id, changed"
              " FROM chat.react($1::bigint, $2, $3, $4::boolean, $5::int)", 5},
    {"online_on", "INSERT INTO chat.online(user_id) VALUES ($1)"
                  " ON CONFLICT (user_id) DO UPDATE SET since = now(), checked_at = now()", 1},
    {"online_off", "DELETE FROM chat.online WHERE user_id = $1", 1},
    /* In user order, as every instance writes the same presence events: rows and the
       per-user locks of the online_changed trigger are then taken in one order. */
    {"online_on_many", "INSERT INTO chat.online(user_id)"
                       " SELECT DISTINCT u FROM unnest($1::text[]) u ORDER BY u"
                       " ON CONFLICT (user_id) DO UPDATE SET since = now(), checked_at = now()", 1},
    {"online_off_many", "DELETE FROM chat.online WHERE user_id = ANY($1::text[])", 1},
    {"online_stale", "SELECT user_id, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
                     " FROM chat.online"
                     " WHERE checked_at < now() - $1::bigint * interval '1 millisecond'"
                     " ORDER BY checked_at LIMIT $2::int", 2},
    {"online_keep", "UPDATE chat.online SET checked_at = now() WHERE user_id = $1", 1},
    /* A connection that opened after the question keeps its mark. */
    {"online_drop", "DELETE FROM chat.online WHERE user_id = $1"
                    " AND since <= to_timestamp($2::bigint / 1000000.0)", 2},
    /* Rows at or below the user's read position are read (sending moves it too). */
    {"notif_count", "SELECT count(*) FROM chat.notifications n"
                    " JOIN chat.participants p ON p.conversation_id = n.conversation_id"
                    "  AND p.user_id = n.user_id"
                    " JOIN chat.messages m ON m.id = n.message_id"
                    " WHERE n.user_id = $1 AND n.seq > p.read_seq AND NOT m.deleted", 1},
    /* The same for several users; a user without rows has none here (count 0). */
    {"notif_counts", "SELECT n.user_id, count(*) FROM chat.notifications n"
                     " JOIN chat.participants p ON p.conversation_id = n.conversation_id"
                     "  AND p.user_id = n.user_id"
                     " JOIN chat.messages m ON m.id = n.message_id"
                     " WHERE n.user_id = ANY($1::text[]) AND n.seq > p.read_seq AND NOT m.deleted"
                     " GROUP BY n.user_id", 1},
    /* Other services' asks (chat_asks.c): 1-based positions of the pairs (asker,
       other) that share a conversation; the participants among some users.
       `shared` reads the askers' and the others' memberships once each and joins them
       on the conversation: joining pair by pair walked a mentor's every conversation
       for each id asked about (3000 conversations, 500 ids: 0.4-4 s; this way 5 ms). */
    {"shared", "WITH q AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY"
               "  AS q(asker, other, i)),"
               " s AS (SELECT DISTINCT a.user_id AS asker, b.user_id AS other"
               "  FROM chat.participants a"
               "  JOIN chat.participants b ON b.conversation_id = a.conversation_id"
               "  WHERE a.user_id IN (SELECT asker FROM q) AND b.user_id IN (SELECT other FROM q))"
               " SELECT q.i FROM q JOIN s ON s.asker = q.asker AND s.other = q.other", 2},
    {"members_among", "SELECT p.user_id FROM chat.participants p"
                      " WHERE p.conversation_id = $1::bigint AND p.user_id = ANY($2::text[])", 2},
    /* Retention: the oldest expired rows, a bounded batch, skipping rows another
       instance (or a mark_read) holds. */
    {"notif_expire", "DELETE FROM chat.notifications WHERE id IN (SELECT id FROM chat.notifications"
                     " WHERE created_at < now() - $1::bigint * interval '1 day'"
                     " ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)", 2},
    /* The per-user cap. No row back: another instance is sweeping. */
    {"notif_sweep_claim", "SELECT last_id FROM chat.notification_sweep WHERE id = 1"
                          " FOR UPDATE SKIP LOCKED", 0},
    {"notif_sweep_mark", "UPDATE chat.notification_sweep SET last_id = $1::bigint WHERE id = 1",
     1},
    {"notif_trim", NOTIF_TRIM, 4},
    /* webhooks (service/pl_webhook.c, chat_webhooks.c): message.created with the
       participants marked away, the sender excepted */
    {"webhook_message",
     "INSERT INTO chat.webhook_outbox(type, user_key, data)"
     " SELECT 'message.created', $1, '{\"message\":' || $2 || ',\"recipients_offline\":'"
     " || coalesce((SELECT json_agg(p.user_id ORDER BY p.user_id)::text"
     "   FROM chat.participants p"
     "   WHERE p.conversation_id = $3::bigint AND p.away AND p.user_id <> $4), '[]') || '}'",
     4},
    PL_WEBHOOK_STMTS("chat"),
    {NULL, NULL, 0}};

/* An optional integer parameter: NULL is SQL NULL. */
static void param_opt_int(pl_pg_params_t *p, const int64_t *x)
{
    if (x)
        pl_pg_param_int(p, *x);
    else
        pl_pg_param_null(p);
}

static PGresult *run(PGconn *db, const char *stmt, pl_pg_params_t *p)
{
    return pl_pg_run_params(db, stmt, p);
}

/* The status words the SQL functions return (chat_schema.c). */
static chat_status_t parse_status(const char *st)
{
    return strcmp(st, "ok") == 0          ? CHAT_OK
           : strcmp(st, "duplicate") == 0 ? CHAT_DUPLICATE
           : strcmp(st, "forbidden") == 0 ? CHAT_FORBIDDEN
           : strcmp(st, "bad_reply") == 0 ? CHAT_BAD_REPLY
           : strcmp(st, "deleted") == 0   ? CHAT_GONE
           : strcmp(st, "too_many") == 0  ? CHAT_TOO_MANY
                                          : CHAT_NOT_FOUND;
}

/* A statement that returns exactly one row; NULL (logged) otherwise. */
static PGresult *run_one(PGconn *db, const char *stmt, pl_pg_params_t *p)
{
    PGresult *r = run(db, stmt, p);
    if (r && PQntuples(r) != 1) {
        pl_error("database error", "op=%s err=\"expected one row, got %d\"", stmt, PQntuples(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Run a statement whose result only matters as success. */
static int run_void(PGconn *db, const char *stmt, pl_pg_params_t *p)
{
    PGresult *r = run(db, stmt, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static void post_params(pl_pg_params_t *p, const chat_post_t *m)
{
    memset(p, 0, sizeof *p);
    pl_pg_param_int(p, m->conv);
    pl_pg_param_cstr(p, m->sender);
    pl_pg_param_bytes(p, m->content.ptr, m->content.len);
    param_opt_int(p, m->reply_to);
    pl_pg_param_bytes(p, m->attachments.ptr, m->attachments.len);
    pl_pg_param_bytes(p, m->temp_id.ptr, m->temp_id.len);
}

/* A row of POST_FAST or of chat.post_message: status, id, seq, created_us. */
static void read_posted(const PGresult *r, chat_posted_t *out)
{
    out->status = parse_status(PQgetvalue(r, 0, 0));
    out->message_id = pl_pg_int(r, 0, 1);
    out->seq = pl_pg_int(r, 0, 2);
    out->created_us = pl_pg_int(r, 0, 3);
}

int chat_store_post(PGconn *db, int64_t conv, const char *sender, chat_str_t content,
                    const int64_t *reply_to, chat_str_t attachments, chat_str_t temp_id,
                    chat_posted_t *out)
{
    chat_post_t m = {conv, sender, content, reply_to, attachments, temp_id};
    pl_pg_params_t p;
    post_params(&p, &m);
    PGresult *r = run(db, "post_fast", &p);
    if (r && PQntuples(r) == 0) {
        PQclear(r);
        r = run_one(db, "post", &p);
    }
    if (!r)
        return -1;
    read_posted(r, out);
    PQclear(r);
    return 0;
}

int chat_store_post_system(PGconn *db, int64_t conv, chat_str_t content, const int64_t *reply_to,
                           chat_str_t attachments, chat_str_t temp_id, chat_posted_t *out)
{
    chat_post_t m = {conv, "", content, reply_to, attachments, temp_id};
    pl_pg_params_t p;
    post_params(&p, &m);
    PGresult *r = run_one(db, "post_system", &p);
    if (!r)
        return -1;
    read_posted(r, out);
    PQclear(r);
    return 0;
}

/* The batch's six columns as binary arrays, for LOCK_CONVS and POST_BATCH. */
typedef struct {
    pl_pg_array_t conv, sender, content, reply, att, temp;
} batch_arrays_t;

static void batch_free(batch_arrays_t *b)
{
    pl_pg_array_free(&b->conv);
    pl_pg_array_free(&b->sender);
    pl_pg_array_free(&b->content);
    pl_pg_array_free(&b->reply);
    pl_pg_array_free(&b->att);
    pl_pg_array_free(&b->temp);
}

/* Fill the arrays and the statement's parameters; -1 when out of memory. */
static int batch_build(batch_arrays_t *b, const chat_post_t *posts, size_t n, pl_pg_params_t *p)
{
    pl_pg_array_init(&b->conv, PL_PG_INT8);
    pl_pg_array_init(&b->sender, PL_PG_TEXT);
    pl_pg_array_init(&b->content, PL_PG_TEXT);
    pl_pg_array_init(&b->reply, PL_PG_INT8);
    pl_pg_array_init(&b->att, PL_PG_BYTEA);
    pl_pg_array_init(&b->temp, PL_PG_TEXT);
    for (size_t i = 0; i < n; i++) {
        const chat_post_t *m = &posts[i];
        pl_pg_array_int8(&b->conv, m->conv);
        pl_pg_array_bytes(&b->sender, m->sender, strlen(m->sender));
        /* content is never NULL in SQL: an empty message is "" */
        pl_pg_array_bytes(&b->content, m->content.ptr ? m->content.ptr : "", m->content.len);
        if (m->reply_to)
            pl_pg_array_int8(&b->reply, *m->reply_to);
        else
            pl_pg_array_bytes(&b->reply, NULL, 0);
        pl_pg_array_bytes(&b->att, m->attachments.ptr, m->attachments.len);
        pl_pg_array_bytes(&b->temp, m->temp_id.ptr, m->temp_id.len);
    }
    memset(p, 0, sizeof *p);
    return pl_pg_array_param(&b->conv, p) || pl_pg_array_param(&b->sender, p) ||
                   pl_pg_array_param(&b->content, p) || pl_pg_array_param(&b->reply, p) ||
                   pl_pg_array_param(&b->att, p) || pl_pg_array_param(&b->temp, p)
               ? -1
               : 0;
}

/* The next pipelined statement's result and the NULL that ends it. 0 when it
   succeeded, with rows or none (*out holds it, or NULL when the caller passed none),
   -1 otherwise: the first failure is logged under `op`, later statements only say
   PIPELINE_ABORTED. */
static int pipeline_result(PGconn *db, PGresult **out, int *logged, const char *op)
{
    PGresult *r = PQgetResult(db);
    if (!r) /* the connection broke */
        return -1;
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!ok && !*logged) {
        pl_error("database error", "op=%s err=\"%.200s\"", op, PQresultErrorMessage(r));
        *logged = 1;
    }
    PGresult *extra;
    while ((extra = PQgetResult(db)))
        PQclear(extra);
    if (ok && out)
        *out = r;
    else
        PQclear(r);
    return ok ? 0 : -1;
}

/* Rows of POST_BATCH: i (1-based position in the batch), id, seq, created_us. */
static void read_batch(const PGresult *r, size_t n, chat_posted_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i].status = CHAT_UNDECIDED;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = pl_pg_int(r, row, 0);
        if (i < 1 || (uint64_t)i > n)
            continue; /* cannot happen: ordinality of our own arrays */
        chat_posted_t *o = &out[i - 1];
        o->status = CHAT_OK;
        o->message_id = pl_pg_int(r, row, 1);
        o->seq = pl_pg_int(r, row, 2);
        o->created_us = pl_pg_int(r, row, 3);
    }
}

int chat_store_post_many(PGconn *db, const chat_post_t *posts, size_t n, chat_posted_t *out)
{
    batch_arrays_t b;
    pl_pg_params_t p;
    if (batch_build(&b, posts, n, &p) != 0) {
        batch_free(&b);
        pl_error("database error", "op=post_many err=\"%s\"", "out of memory");
        return -1;
    }
    if (PQenterPipelineMode(db) != 1) {
        batch_free(&b);
        pl_error("database error", "op=post_many err=\"%s\"", "cannot enter pipeline mode");
        return -1;
    }
    /* Both statements and the sync leave in one write; the batch waits once. */
    int rc = -1, logged = 0;
    int sent = PQsendQueryPrepared(db, "lock_convs", 1, p.v, p.len, p.fmt, 0);
    sent += sent && PQsendQueryPrepared(db, "post_batch", p.n, p.v, p.len, p.fmt, 0);
    if (PQpipelineSync(db) == 1) {
        PGresult *rows = NULL;
        int lock_rc = sent >= 1 ? pipeline_result(db, NULL, &logged, "post_many") : -1;
        int post_rc = sent == 2 ? pipeline_result(db, &rows, &logged, "post_many") : -1;
        PGresult *sync = PQgetResult(db);
        if (lock_rc == 0 && post_rc == 0 && sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC) {
            read_batch(rows, n, out);
            rc = 0;
        }
        PQclear(sync);
        PQclear(rows);
    }
    if (PQexitPipelineMode(db) != 1) {
        pl_error("database error", "op=post_many err=\"%.200s\"", PQerrorMessage(db));
        rc = -1;
    }
    batch_free(&b);
    return rc;
}

int chat_store_access(PGconn *db, int64_t conv, const char *user, int *exists, int *member)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, user);
    PGresult *r = run_one(db, "access", &p);
    if (!r)
        return -1;
    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    *member = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    return 0;
}

static int find_direct(PGconn *db, const char *key, int64_t *conv)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, key);
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

/* Has `creator` created fewer than `per_min` conversations in the last minute?
   Takes the creator's lock first (held until the end of the transaction). */
static int under_quota(PGconn *db, const char *creator, int64_t per_min, int *ok)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, creator);
    if (run_void(db, "lock_creator", &p))
        return -1;
    PGresult *r = run_one(db, "created_lately", &p);
    if (!r)
        return -1;
    *ok = pl_pg_int(r, 0, 0) < per_min;
    PQclear(r);
    return 0;
}

int chat_store_create(PGconn *db, const char *kind, chat_str_t title, const char *creator,
                      const char *const *participants, size_t n, int64_t per_min,
                      int64_t *conv, chat_status_t *status)
{
    char *key = NULL;
    int rc = -1;
    *status = CHAT_DUPLICATE;
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
    if (per_min > 0) {
        int ok;
        if (under_quota(db, creator, per_min, &ok))
            goto done;
        if (!ok) {
            *status = CHAT_LIMITED;
            rc = 0;
            goto done;
        }
    }
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, kind);
    pl_pg_param_bytes(&p, title.ptr, title.len);
    pl_pg_param_cstr(&p, key);
    pl_pg_param_cstr(&p, creator);
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
        pl_pg_params_t q = {.n = 0};
        pl_pg_param_int(&q, *conv);
        pl_pg_param_cstr(&q, participants[i]);
        PGresult *ri = run(db, "insert_participant", &q);
        if (!ri)
            goto done;
        PQclear(ri);
    }
    *status = CHAT_OK;
    rc = 0;
done:
    free(key);
    return rc;
}

PGresult *chat_store_user_conversations(PGconn *db, const char *user)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, user);
    return run(db, "user_convs", &p);
}

PGresult *chat_store_conversation(PGconn *db, int64_t conv, const char *user)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, user);
    return run(db, "one_conv", &p);
}

PGresult *chat_store_history(PGconn *db, int64_t conv, int64_t after, int64_t before,
                             int64_t limit_plus_one, int descending)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    param_opt_int(&p, after >= 0 ? &after : NULL);
    param_opt_int(&p, before >= 0 ? &before : NULL);
    pl_pg_param_int(&p, limit_plus_one);
    return run(db, descending ? "history_desc" : "history_asc", &p);
}

PGresult *chat_store_message(PGconn *db, int64_t message_id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, message_id);
    return run(db, "one_msg", &p);
}

PGresult *chat_store_reactions(PGconn *db, const int64_t *message_ids, size_t n)
{
    /* An array literal of integers: numbers only, so nothing to quote. */
    pl_buf_t arr;
    pl_buf_init(&arr, 0);
    char num[24];
    int bad = pl_buf_append(&arr, "{", 1);
    for (size_t i = 0; i < n && !bad; i++) {
        int len = snprintf(num, sizeof num, "%s%" PRId64, i ? "," : "", message_ids[i]);
        bad = pl_buf_append(&arr, num, (size_t)len);
    }
    bad = bad || pl_buf_putc(&arr, '}'); /* pl_buf keeps data NUL-terminated */
    PGresult *r = NULL;
    if (!bad) {
        pl_pg_params_t p = {.n = 0};
        pl_pg_param_cstr(&p, arr.data);
        p.fmt[0] = 0; /* text: PostgreSQL parses the array literal */
        r = run(db, "reactions", &p);
    }
    pl_buf_free(&arr);
    return r;
}

int chat_store_mark_read(PGconn *db, int64_t conv, const char *user, int64_t seq,
                         chat_read_t *out)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, user);
    pl_pg_param_int(&p, seq);
    PGresult *r = run_one(db, "mark_read", &p);
    if (!r)
        return -1;
    out->status = parse_status(PQgetvalue(r, 0, 0));
    out->read_seq = pl_pg_int(r, 0, 1);
    out->moved = PQgetvalue(r, 0, 2)[0] == 't';
    out->read_us = pl_pg_int(r, 0, 3);
    PQclear(r);
    return 0;
}

int chat_store_change(PGconn *db, int64_t message_id, const char *user, chat_str_t content,
                      int del, chat_status_t *out)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, message_id);
    pl_pg_param_cstr(&p, user);
    pl_pg_param_bytes(&p, del ? NULL : content.ptr, del ? 0 : content.len);
    pl_pg_param_bool(&p, del);
    PGresult *r = run_one(db, "change", &p);
    if (!r)
        return -1;
    *out = parse_status(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int chat_store_react(PGconn *db, int64_t message_id, const char *user, chat_str_t emoji,
                     int add, int max, chat_reacted_t *out)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, message_id);
    pl_pg_param_cstr(&p, user);
    pl_pg_param_bytes(&p, emoji.ptr, emoji.len);
    pl_pg_param_bool(&p, add);
    pl_pg_param_int(&p, max);
    PGresult *r = run_one(db, "react", &p);
    if (!r)
        return -1;
    out->status = parse_status(PQgetvalue(r, 0, 0));
    out->conv = pl_pg_int(r, 0, 1);
    out->changed = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    return 0;
}

int chat_store_set_online(PGconn *db, const char *user, int online)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, user);
    return run_void(db, online ? "online_on" : "online_off", &p);
}

/* A text[] literal: every element double-quoted, with " and \ escaped, so any user
   id (they hold no control characters) reads back exactly. */
static int text_array(pl_buf_t *out, const chat_str_t *items, size_t n)
{
    int bad = pl_buf_putc(out, '{');
    for (size_t i = 0; i < n && !bad; i++) {
        bad = (i && pl_buf_putc(out, ',')) || pl_buf_putc(out, '"');
        for (size_t k = 0; k < items[i].len && !bad; k++) {
            char c = items[i].ptr[k];
            bad = ((c == '"' || c == '\\') && pl_buf_putc(out, '\\')) || pl_buf_putc(out, c);
        }
        bad = bad || pl_buf_putc(out, '"');
    }
    return bad || pl_buf_putc(out, '}') ? -1 : 0;
}

int chat_store_set_online_many(PGconn *db, const chat_str_t *users, size_t n, int online)
{
    if (n == 0)
        return 0;
    pl_buf_t arr;
    pl_buf_init(&arr, 0);
    int rc = -1;
    if (text_array(&arr, users, n) == 0) {
        pl_pg_params_t p = {.n = 0};
        pl_pg_param_cstr(&p, arr.data);
        p.fmt[0] = 0; /* text: PostgreSQL parses the array literal */
        rc = run_void(db, online ? "online_on_many" : "online_off_many", &p);
    }
    pl_buf_free(&arr);
    return rc;
}

int chat_store_sessions(PGconn *db, const chat_str_t *users, size_t n, PGresult **counts,
                        PGresult **convs)
{
    *counts = *convs = NULL;
    pl_buf_t arr;
    pl_buf_init(&arr, 0);
    if (n == 0 || text_array(&arr, users, n) != 0 || PQenterPipelineMode(db) != 1) {
        pl_buf_free(&arr);
        pl_error("database error", "op=sessions err=\"%s\"", "cannot build the pipeline");
        return -1;
    }
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, arr.data);
    p.fmt[0] = 0; /* text: PostgreSQL parses the array literal */
    /* The marks first, as one session_open does; all three leave in one write. */
    int sent = PQsendQueryPrepared(db, "online_on_many", 1, p.v, p.len, p.fmt, 0);
    sent += sent && PQsendQueryPrepared(db, "notif_counts", 1, p.v, p.len, p.fmt, 0);
    sent += sent == 2 && PQsendQueryPrepared(db, "user_convs_many", 1, p.v, p.len, p.fmt, 0);
    int rc = -1, logged = 0;
    if (PQpipelineSync(db) == 1) {
        int a = sent >= 1 ? pipeline_result(db, NULL, &logged, "sessions") : -1;
        int b = sent >= 2 ? pipeline_result(db, counts, &logged, "sessions") : -1;
        int c = sent == 3 ? pipeline_result(db, convs, &logged, "sessions") : -1;
        PGresult *sync = PQgetResult(db);
        rc = a == 0 && b == 0 && c == 0 && sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC
                 ? 0
                 : -1;
        PQclear(sync);
    }
    if (PQexitPipelineMode(db) != 1) {
        pl_error("database error", "op=sessions err=\"%.200s\"", PQerrorMessage(db));
        rc = -1;
    }
    pl_buf_free(&arr);
    if (rc != 0) {
        PQclear(*counts);
        PQclear(*convs);
        *counts = *convs = NULL;
    }
    return rc;
}

PGresult *chat_store_online_stale(PGconn *db, int64_t older_ms, int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, older_ms);
    pl_pg_param_int(&p, limit);
    return run(db, "online_stale", &p);
}

int chat_store_online_checked(PGconn *db, const char *user, int online, int64_t asked_us)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, user);
    if (online)
        return run_void(db, "online_keep", &p);
    pl_pg_param_int(&p, asked_us);
    return run_void(db, "online_drop", &p);
}

int chat_store_notification_count(PGconn *db, const char *user, int64_t *count)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, user);
    PGresult *r = run_one(db, "notif_count", &p);
    if (!r)
        return -1;
    *count = pl_pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}

PGresult *chat_store_shared(PGconn *db, const chat_str_t *askers, const chat_str_t *others,
                            size_t n)
{
    pl_pg_array_t a, o;
    pl_pg_array_init(&a, PL_PG_TEXT);
    pl_pg_array_init(&o, PL_PG_TEXT);
    for (size_t i = 0; i < n; i++) {
        pl_pg_array_bytes(&a, askers[i].ptr, askers[i].len);
        pl_pg_array_bytes(&o, others[i].ptr, others[i].len);
    }
    pl_pg_params_t p;
    memset(&p, 0, sizeof p);
    PGresult *r = NULL;
    if (pl_pg_array_param(&a, &p) == 0 && pl_pg_array_param(&o, &p) == 0)
        r = run(db, "shared", &p);
    pl_pg_array_free(&a);
    pl_pg_array_free(&o);
    return r;
}

PGresult *chat_store_members_among(PGconn *db, int64_t conv, const chat_str_t *users, size_t n)
{
    pl_pg_array_t u;
    pl_pg_array_init(&u, PL_PG_TEXT);
    for (size_t i = 0; i < n; i++)
        pl_pg_array_bytes(&u, users[i].ptr, users[i].len);
    pl_pg_params_t p;
    memset(&p, 0, sizeof p);
    pl_pg_param_int(&p, conv);
    PGresult *r = pl_pg_array_param(&u, &p) == 0 ? run(db, "members_among", &p) : NULL;
    pl_pg_array_free(&u);
    return r;
}

int chat_store_notif_expire(PGconn *db, int64_t days, int limit, int64_t *deleted)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, days);
    pl_pg_param_int(&p, limit);
    PGresult *r = run(db, "notif_expire", &p);
    if (!r)
        return -1;
    *deleted = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int chat_store_notif_trim(PGconn *db, int64_t max_per_user, int scan, int budget,
                          chat_trim_t *out)
{
    memset(out, 0, sizeof *out);
    pl_pg_params_t none = {.n = 0};
    PGresult *r = run(db, "notif_sweep_claim", &none);
    if (!r)
        return -1;
    int claimed = PQntuples(r) == 1;
    int64_t last = claimed ? pl_pg_int(r, 0, 0) : 0;
    PQclear(r);
    if (!claimed) /* another instance is sweeping */
        return 0;
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, last);
    pl_pg_param_int(&p, scan);
    pl_pg_param_int(&p, max_per_user);
    pl_pg_param_int(&p, budget);
    if (!(r = run_one(db, "notif_trim", &p)))
        return -1;
    int64_t read_to = pl_pg_int(r, 0, 0);
    out->deleted = pl_pg_int(r, 0, 1);
    int saturated = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    if (saturated) { /* the mark stays: the same rows are read again until trimmed */
        out->more = 1;
        return 0;
    }
    if (read_to == last)
        return 0;
    out->more = read_to - last >= scan; /* a full page: more may be waiting */
    pl_pg_params_t m = {.n = 0};
    pl_pg_param_int(&m, read_to);
    return run_void(db, "notif_sweep_mark", &m);
}

/* ---- the server API (chat_api.c) ---------------------------------------------- */

PGresult *chat_store_conversation_system(PGconn *db, int64_t conv)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    return run(db, "conv_system", &p);
}

int chat_store_conv_lock(PGconn *db, int64_t conv, int *exists, int *direct, int64_t *count)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    PGresult *r = run(db, "conv_lock", &p);
    if (!r)
        return -1;
    *exists = PQntuples(r) == 1;
    *direct = *exists && strcmp(PQgetvalue(r, 0, 0), "direct") == 0;
    *count = *exists ? pl_pg_int(r, 0, 1) : 0;
    PQclear(r);
    return 0;
}

int chat_store_add_participant(PGconn *db, int64_t conv, const char *user, int *added)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, user);
    PGresult *r = run(db, "add_participant", &p);
    if (!r)
        return -1;
    *added = PQntuples(r) == 1;
    PQclear(r);
    return 0;
}

int chat_store_remove_participant(PGconn *db, int64_t conv, const char *user, int *removed)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, user);
    PGresult *r = run(db, "remove_participant", &p);
    if (!r)
        return -1;
    *removed = pl_pg_int(r, 0, 0) > 0;
    PQclear(r);
    return 0;
}

/*  pl_webhook: the service side of webhooks — the outbox every service writes an event
    to in the same transaction as the change that causes it, and the dead letters the
    server API lists and replays. parley-hooks (hooks/) delivers the rows.
    The one thing to know: the tables live in each service's own schema
    (<schema>.webhook_outbox, <schema>.webhook_dead), so an event commits or rolls back
    with its change, whatever database that service lives in. Event ids start with the
    schema's name ("chat_…"), which is how the API finds the service that owns a dead
    letter. Rows are written only when WEBHOOK_URL is set in the service's environment
    (pl_webhook_enabled): a stack without webhooks pays nothing and piles nothing up. */
#ifndef PL_WEBHOOK_H
#define PL_WEBHOOK_H

#include <libpq-fe.h>
#include <stddef.h>

#include "pl_buf.h"
#include "pl_service.h"

/* The DDL of one service's webhook tables (a migration of its own list). `user_key`
   orders delivery: rows with the same key are delivered one at a time, oldest first
   (docs/design/webhooks.md). */
#define PL_WEBHOOK_MIGRATION(S)                                                                    \
    "CREATE TABLE IF NOT EXISTS " S ".webhook_outbox ("                                           \
    "  id bigserial PRIMARY KEY,"                                                                  \
    "  event_id text NOT NULL UNIQUE"                                                              \
    "    DEFAULT '" S "_' || replace(gen_random_uuid()::text, '-', ''),"                           \
    "  type text NOT NULL,"                                                                        \
    "  user_key text NOT NULL,"                                                                    \
    "  data text NOT NULL," /* the event's `data`, JSON */                                         \
    "  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"                                 \
    "  attempts int NOT NULL DEFAULT 0,"                                                           \
    "  next_at timestamptz NOT NULL DEFAULT clock_timestamp()," /* not before (backoff) */         \
    "  lease_until timestamptz," /* a worker is delivering it until then */                        \
    "  last_error text);"                                                                          \
    "CREATE INDEX IF NOT EXISTS webhook_outbox_user ON " S ".webhook_outbox(user_key, id);"        \
    "CREATE TABLE IF NOT EXISTS " S ".webhook_dead ("                                             \
    "  event_id text PRIMARY KEY,"                                                                 \
    "  type text NOT NULL,"                                                                        \
    "  user_key text NOT NULL,"                                                                    \
    "  data text NOT NULL,"                                                                        \
    "  created_at timestamptz NOT NULL,"                                                           \
    "  attempts int NOT NULL,"                                                                     \
    "  last_error text,"                                                                           \
    "  dead_at timestamptz NOT NULL DEFAULT clock_timestamp());"                                   \
    "CREATE INDEX IF NOT EXISTS webhook_dead_at ON " S ".webhook_dead(dead_at);"

#define PL_WEBHOOK_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The prepared statements pl_webhook_* use, to put in a service's statement list. */
#define PL_WEBHOOK_STMTS(S)                                                                        \
    {"webhook_emit",                                                                               \
     "INSERT INTO " S ".webhook_outbox(type, user_key, data) VALUES ($1, $2, $3)", 3},             \
    {"webhook_dead_list",                                                                          \
     "SELECT event_id, type, " PL_WEBHOOK_ISO("created_at") ", data, attempts,"                    \
     " coalesce(last_error, ''), " PL_WEBHOOK_ISO("dead_at") " FROM " S ".webhook_dead"            \
     " ORDER BY dead_at DESC, event_id LIMIT $1::bigint", 1},                                      \
    {"webhook_replay",                                                                             \
     "WITH d AS (DELETE FROM " S ".webhook_dead WHERE event_id = $1 RETURNING *)"                  \
     " INSERT INTO " S ".webhook_outbox(event_id, type, user_key, data, created_at)"               \
     " SELECT event_id, type, user_key, data, created_at FROM d RETURNING event_id", 1}

/* Is WEBHOOK_URL set (read once)? The services write outbox rows only then. */
int pl_webhook_enabled(void);

/* Write event `type` about `user_key` with `data` (one packed MessagePack map, turned
   into JSON here) to the outbox, inside the open transaction. Nothing when webhooks
   are off. 0, or -1 when the database failed (the caller's transaction rolls back). */
/* A packed MessagePack object as JSON text, appended to json. 0, or -1 when it does not
   unpack (a bug of the caller, not input). */
int pl_webhook_json(const char *data, size_t len, pl_buf_t *json);

int pl_webhook_emit(PGconn *db, const char *type, const char *user_key, const char *data,
                    size_t len);

/* Handlers of the server API's dead-letter routes (PROTO_EV_API_WEBHOOK_*), the same in
   every service: put them in its handler table. */
int pl_webhook_on_dead_letters(void *app, pl_service_t *svc, const proto_request_t *req);
int pl_webhook_on_replay(void *app, pl_service_t *svc, const proto_request_t *req);

#endif

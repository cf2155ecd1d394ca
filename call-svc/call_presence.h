/*  call_presence: what call-svc asks presence-svc, and what it tells it.
    The one thing to know: asks block this instance until presence answers (bounded by
    CALL_ASK_TIMEOUT_MS and by the client request's own deadline). No answer is
    reported as -1 and callers turn it into `unavailable`, never into a guess:
    a callee whose presence is unknown is not declared offline. */
#ifndef CALL_PRESENCE_H
#define CALL_PRESENCE_H

#include <msgpack.h>
#include <stdint.h>

#include "call_handlers.h"

typedef struct {
    char role[16];   /* "" when presence has never seen the user */
    char status[16]; /* effective status: online away busy available offline */
    int online;
    int64_t connections; /* live connections; 0 = unreachable */
} call_presence_t;

/* How long an ask made for `req` may wait: CALL_ASK_TIMEOUT_MS, shortened so the
   answer still beats the request's deadline. 0 when there is no time left. */
int64_t call_ask_budget(const call_cfg_t *cfg, const proto_request_t *req);

/* presence_query for one user. 0, or -1 when presence did not answer (in time). */
int call_presence_query(pl_service_t *svc, int64_t timeout_ms, const char *uid,
                        call_presence_t *out);

/* An answer from presence: the unpacked objects point into `raw` (msgpack-c does
   not copy strings), so both live and die together. */
typedef struct {
    msgpack_sbuffer raw;
    msgpack_unpacked up;
} call_answer_t;

void call_answer_init(call_answer_t *a);
void call_answer_destroy(call_answer_t *a);

/* Ask service `target` (body: one packed map); on 0 `a->up` holds the answer map,
   checked to be of type `want`. -1 when it did not answer in time, or answered
   something else (an `error`): logged, never guessed at. */
int call_ask(pl_service_t *svc, proto_svc_t target, int64_t timeout_ms, const char *ev,
             const msgpack_sbuffer *body, const char *want, call_answer_t *a);

/* call_chat.c: is `conv` a conversation of both `a` and `b`? Asks chat-svc (it owns
   conversations). 0 with *both set, or -1 when chat did not answer in time. */
int call_chat_both_members(pl_service_t *svc, int64_t timeout_ms, int64_t conv, const char *a,
                           const char *b, int *both);

/* available_mentors. On 0, `list` points at the array of user ids (str objects)
   inside `answer` (initialised by the caller, destroyed by the caller). -1 when
   presence did not answer. */
int call_presence_mentors(pl_service_t *svc, int64_t timeout_ms, call_answer_t *answer,
                          const msgpack_object **list);

/* Notify presence (after commit) that `uid` entered (busy) or left a call or help
   session `kind`:`id`, so a mentor shows busy meanwhile. Only mentors and admins
   have a status that others rely on, so only they are reported. */
void call_presence_activity(pl_service_t *svc, const char *uid, const char *role, int busy,
                            const char *kind, int64_t id);

/* Mentors and admins: may take help requests, and show busy in a session. */
int call_is_mentor(const char *role);

#endif

/*  chat_members: "is this user a participant of that conversation?", answered from
    memory when it can be. The one thing to know: only positive answers are cached,
    and only the server API removes a participant, which tells every instance to
    forget that entry (chat_api.c, chat_on_event). Typing, which may
    come several times a second per user, then costs no database read at all. */
#ifndef CHAT_MEMBERS_H
#define CHAT_MEMBERS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chat_members_t chat_members_t;

/* A cache of at most `max_entries` memberships (it is emptied when full). NULL on
   allocation failure. */
chat_members_t *chat_members_new(size_t max_entries);
void chat_members_destroy(chat_members_t **self_p);

/* Does `conv` exist and is `user` a participant? Reads the database on a miss.
   0, or -1 on database failure. */
int chat_members_check(chat_members_t *self, PGconn *db, int64_t conv, const char *user,
                       int *exists, int *member);

/* Remember a membership known from a committed fact (e.g. the user just posted). */
void chat_members_remember(chat_members_t *self, int64_t conv, const char *user);

/* A participant was removed (the server API, chat_api.c): every instance forgets it
   when it hears `participant_removed` on the internal topic PROTO_TOPIC_CHAT_EVENTS. */
void chat_members_forget(chat_members_t *self, int64_t conv, const char *user);

/* Entries held. */
size_t chat_members_size(const chat_members_t *self);

#endif

/*  chat_members: "is this user a participant of that conversation?", answered from
    memory when it can be. The one thing to know: only positive answers are cached,
    and that is safe because nothing removes a participant (there is no leave event);
    a feature that does must clear this cache in every instance. Typing, which may
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

/* Entries held. */
size_t chat_members_size(const chat_members_t *self);

#endif

/*  chat_members: the membership cache (see chat_members.h). */
#include "chat_members.h"

#include <stdio.h>
#include <stdlib.h>

#include "chat_store.h"
#include "pl_map.h"

struct chat_members_t {
    pl_map_t *map; /* "<conv>\x1f<user>" -> (void *)1 */
    size_t max_entries;
};

/* The value stored for a member: any non-NULL pointer. */
static char s_member;

chat_members_t *chat_members_new(size_t max_entries)
{
    chat_members_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_entries = max_entries ? max_entries : 1;
    self->map = pl_map_new();
    if (!self->map)
        chat_members_destroy(&self);
    return self;
}

void chat_members_destroy(chat_members_t **self_p)
{
    chat_members_t *self = *self_p;
    if (!self)
        return;
    pl_map_destroy(&self->map);
    free(self);
    *self_p = NULL;
}

static size_t make_key(char *out, size_t cap, int64_t conv, const char *user)
{
    int n = snprintf(out, cap, "%lld\x1f%s", (long long)conv, user);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

void chat_members_remember(chat_members_t *self, int64_t conv, const char *user)
{
    char key[200];
    size_t klen = make_key(key, sizeof key, conv, user);
    if (!klen)
        return;
    if (pl_map_size(self->map) >= self->max_entries) {
        /* Emptying is crude but bounded and cheap; the working set refills in one
           read per active (conversation, user). */
        pl_map_t *fresh = pl_map_new();
        if (!fresh)
            return;
        pl_map_destroy(&self->map);
        self->map = fresh;
    }
    pl_map_put(self->map, key, klen, &s_member); /* on failure we just read again */
}

int chat_members_check(chat_members_t *self, PGconn *db, int64_t conv, const char *user,
                       int *exists, int *member)
{
    char key[200];
    size_t klen = make_key(key, sizeof key, conv, user);
    if (klen && pl_map_get(self->map, key, klen)) {
        *exists = *member = 1;
        return 0;
    }
    if (chat_store_access(db, conv, user, exists, member))
        return -1;
    if (*member)
        chat_members_remember(self, conv, user);
    return 0;
}

void chat_members_forget(chat_members_t *self, int64_t conv, const char *user)
{
    char key[200];
    size_t klen = make_key(key, sizeof key, conv, user);
    if (klen)
        pl_map_remove(self->map, key, klen);
}

size_t chat_members_size(const chat_members_t *self)
{
    return pl_map_size(self->map);
}

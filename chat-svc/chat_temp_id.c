/*  chat_temp_id: the stored form of temp_id (see chat_temp_id.h). */
#include "chat_temp_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_mp.h"

size_t chat_temp_id_store(const msgpack_object *o, char *out, size_t cap)
{
    int64_t v;
    if (!o || cap == 0)
        return 0;
    if (o->type == MSGPACK_OBJECT_STR) {
        size_t n = o->via.str.size, hash = n > 0 && o->via.str.ptr[0] == '#';
        if (n == 0 || n + hash > cap) /* the gateway allows 1..128 bytes: not reached */
            return 0;
        out[0] = '#';
        memcpy(out + hash, o->via.str.ptr, n);
        return n + hash;
    }
    if (pl_mp_as_int(o, &v) != 0)
        return 0;
    int n = snprintf(out, cap, "#%" PRId64, v);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* "#" then an optional '-' and 1 to 19 digits that parse as an int64. */
static int stored_int(const char *s, size_t len, int64_t *v)
{
    if (len < 2 || len > 21 || s[0] != '#')
        return 0;
    char buf[24];
    memcpy(buf, s + 1, len - 1);
    buf[len - 1] = '\0';
    const char *p = buf[0] == '-' ? buf + 1 : buf;
    if (!*p)
        return 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end)
        return 0;
    *v = (int64_t)x;
    return 1;
}

void chat_temp_id_pack(msgpack_packer *pk, const char *stored, size_t len)
{
    int64_t v;
    if (stored_int(stored, len, &v))
        pl_pack_kv_int(pk, "temp_id", v);
    else if (len >= 2 && stored[0] == '#' && stored[1] == '#')
        pl_pack_kv_strn(pk, "temp_id", stored + 1, len - 1);
    else
        pl_pack_kv_strn(pk, "temp_id", stored, len); /* before migration 5, or plain */
}

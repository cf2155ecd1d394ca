/*  proto_envelope: the internal envelope codec (see proto_envelope.h). */
#include "proto_envelope.h"

#include <string.h>

#include "pl_mp.h"
#include "pl_mp_raw.h"

int proto_request_decode(const msgpack_object *root, proto_request_t *out)
{
    memset(out, 0, sizeof *out);
    if (pl_mp_strcpy(root, PK_EV, out->ev, sizeof out->ev) ||
        pl_mp_strcpy(root, PK_GW, out->gw, sizeof out->gw) ||
        pl_mp_uint(root, PK_CN, &out->cn) || pl_mp_uint(root, PK_RQ, &out->rq))
        return -1;
    if (pl_mp_strcpy(root, PK_AS, out->as, sizeof out->as))
        memcpy(out->as, out->ev, sizeof out->as);
    /* uid/role are absent on internal probes (health) */
    pl_mp_strcpy(root, PK_UID, out->uid, sizeof out->uid);
    pl_mp_strcpy(root, PK_ROLE, out->role, sizeof out->role);
    pl_mp_strcpy(root, PK_NM, out->nm, sizeof out->nm);
    if (pl_mp_int(root, PK_DL, &out->dl))
        out->dl = 0;
    if (pl_mp_int(root, PK_TS, &out->ts) || out->ts < 0)
        out->ts = 0;
    out->body = pl_mp_get(root, PK_B);
    if (!out->body || out->body->type != MSGPACK_OBJECT_MAP)
        return -1;
    return 0;
}

int proto_pack_request_head(msgpack_packer *pk, const char *ev, const char *as, const char *gw,
                            uint64_t cn, uint64_t rq, const char *uid, const char *role,
                            const char *nm, int64_t dl)
{
    return proto_pack_request_head_ts(pk, ev, as, gw, cn, rq, uid, role, nm, dl, 0);
}

int proto_pack_request_head_ts(msgpack_packer *pk, const char *ev, const char *as, const char *gw,
                               uint64_t cn, uint64_t rq, const char *uid, const char *role,
                               const char *nm, int64_t dl, int64_t ts)
{
    int n =
        6 + (uid ? 1 : 0) + (role ? 1 : 0) + (nm && *nm ? 1 : 0) + (dl ? 1 : 0) + (ts > 0 ? 1 : 0);
    int rc = msgpack_pack_map(pk, (size_t)n);
    rc |= pl_pack_kv_str(pk, PK_EV, ev);
    rc |= pl_pack_kv_str(pk, PK_AS, as);
    rc |= pl_pack_kv_str(pk, PK_GW, gw);
    rc |= pl_pack_str(pk, PK_CN) || msgpack_pack_uint64(pk, cn);
    rc |= pl_pack_str(pk, PK_RQ) || msgpack_pack_uint64(pk, rq);
    if (uid)
        rc |= pl_pack_kv_str(pk, PK_UID, uid);
    if (role)
        rc |= pl_pack_kv_str(pk, PK_ROLE, role);
    if (nm && *nm)
        rc |= pl_pack_kv_str(pk, PK_NM, nm);
    if (dl)
        rc |= pl_pack_kv_int(pk, PK_DL, dl);
    if (ts > 0)
        rc |= pl_pack_kv_int(pk, PK_TS, ts);
    rc |= pl_pack_str(pk, PK_B);
    return rc ? -1 : 0;
}

int proto_pack_request_body(msgpack_sbuffer *out, const char *buf, size_t len)
{
    static const char *const envelope_keys[] = {"type", "id"};
    return pl_mp_raw_map_without(buf, len, envelope_keys, 2, out);
}

int proto_pack_reply_head(msgpack_packer *pk, uint64_t cn, uint64_t rq, const int64_t *sub,
                          size_t nsub)
{
    int rc = msgpack_pack_map(pk, nsub ? 4 : 3);
    rc |= pl_pack_str(pk, PK_CN) || msgpack_pack_uint64(pk, cn);
    rc |= pl_pack_str(pk, PK_RQ) || msgpack_pack_uint64(pk, rq);
    if (nsub) {
        rc |= pl_pack_str(pk, PK_SUB) || msgpack_pack_array(pk, nsub);
        for (size_t i = 0; i < nsub; i++)
            rc |= msgpack_pack_int64(pk, sub[i]);
    }
    rc |= pl_pack_str(pk, PK_B);
    return rc ? -1 : 0;
}

int proto_pack_event_head(msgpack_packer *pk, const proto_exclude_t *x, int64_t sub)
{
    int has_conn = x && x->gw;
    int has_user = x && x->uid;
    int rc = msgpack_pack_map(pk, 1 + (has_conn ? 2 : 0) + (has_user ? 1 : 0) + (sub > 0 ? 1 : 0));
    if (has_conn) {
        rc |= pl_pack_kv_str(pk, PK_XG, x->gw);
        rc |= pl_pack_str(pk, PK_XC) || msgpack_pack_uint64(pk, x->cn);
    }
    if (has_user)
        rc |= pl_pack_kv_str(pk, PK_XU, x->uid);
    if (sub > 0)
        rc |= pl_pack_kv_int(pk, PK_SUB, sub);
    rc |= pl_pack_str(pk, PK_B);
    return rc ? -1 : 0;
}

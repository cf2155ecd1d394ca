/*  gw_api: the server API listener (see gw_api.h): its vhost, the lws callback, keys,
    request bodies, routing, and answers written when a service replies.
    Like gw_http, an answer is written in HTTP_WRITEABLE: headers in one callback, the
    body in the next (one lws_write per callback). */
#include "gw_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gw.h"
#include "gw_tls.h"
#include "pl_clock.h"
#include "pl_config.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_mp.h"

struct gw_api {
    struct lws_vhost *vhost;
    gw_api_keys_t *keys;
    pl_map_t *waiting; /* session id → gw_api_req_t awaiting a service's reply; bound:
                          one per open API connection */
    int port;
};

/* ---- gathered requests ---------------------------------------------------------- */

/* Drop what a gathered request still waits for (its answer is given, or the client
   went away): later replies then find no session and are ignored. */
static void gather_forget(gw_t *gw, gw_api_req_t *r)
{
    for (int i = 0; i < r->gather_n && gw->api; i++)
        pl_map_removei(gw->api->waiting, r->gather_ids[i]);
    r->gather_n = r->gather_left = 0;
    json_decref((json_t *)r->gathered);
    r->gathered = NULL;
}

static int newest_first(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "dead_at"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "dead_at"));
    return strcmp(y ? y : "", x ? x : ""); /* ISO 8601 UTC sorts as text */
}

static void gather_answer(gw_t *gw, gw_api_req_t *r)
{
    json_t *all = r->gathered;
    size_t n = json_array_size(all);
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    json_t *out = json_array();
    char *text = NULL;
    if (items && out) {
        for (size_t i = 0; i < n; i++)
            items[i] = json_array_get(all, i);
        qsort(items, n, sizeof *items, newest_first);
        for (size_t i = 0; i < n && (int64_t)i < r->gather_limit; i++)
            json_array_append(out, items[i]);
        json_t *doc = json_pack("{s:o}", "events", out); /* "o" takes `out`, even on failure */
        out = NULL;
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
    }
    gather_forget(gw, r);
    r->waiting = 0;
    r->id = 0;
    if (text)
        gw_api_raw(gw, r, r->route ? r->route->status : HTTP_STATUS_OK, "application/json", text,
                   strlen(text));
    else
        gw_api_error(gw, r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "internal error");
    free(text);
    free(items);
    json_decref(out);
}

static void gather_reply(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    const msgpack_object *events = pl_mp_get(body, "events");
    pl_buf_t b;
    pl_buf_init(&b, 0);
    json_t *got = NULL;
    if (events && events->type == MSGPACK_OBJECT_ARRAY && pl_msgpack_to_json(events, &b) == 0)
        got = json_loadb(b.data, b.len, 0, NULL);
    pl_buf_free(&b);
    if (!json_is_array(got) || json_array_extend((json_t *)r->gathered, got) != 0) {
        json_decref(got);
        gather_forget(gw, r);
        r->waiting = 0;
        r->id = 0;
        gw_api_error(gw, r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "internal error");
        return;
    }
    json_decref(got);
    if (--r->gather_left == 0)
        gather_answer(gw, r);
}

/* ---- answers ------------------------------------------------------------------- */

static void answer(gw_t *gw, gw_api_req_t *r)
{
    (void)gw;
    r->answered = 1;
    if (!r->draining)
        lws_callback_on_writable(r->wsi);
}

void gw_api_raw(gw_t *gw, gw_api_req_t *r, int status, const char *type, const char *body,
                size_t len)
{
    pl_buf_reset(&r->out);
    if (len && pl_buf_append(&r->out, body, len) != 0) {
        status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        len = 0;
    }
    r->status = status;
    r->type = type;
    answer(gw, r);
}

void gw_api_error(gw_t *gw, gw_api_req_t *r, int status, const char *code, const char *msg)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    msgpack_object m = pl_mp_obj_str(msg);
    int rc = pl_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    if (rc == 0)
        rc = pl_msgpack_to_json(&m, &b);
    if (rc == 0)
        rc = pl_buf_puts(&b, "}}\n");
    if (rc == 0)
        gw_api_raw(gw, r, status, "application/json", b.data, b.len);
    else
        gw_api_raw(gw, r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "application/json", NULL, 0);
    pl_buf_free(&b);
    pl_info("api refused", "method=%s status=%d code=%s", r->method, status, code);
}

static int status_of(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {{"bad_request", 400},  {"unauthenticated", 401}, {"forbidden", 403},
               {"not_found", 404},    {"conflict", 409},        {"too_large", 413},
               {"rate_limited", 429}, {"unavailable", 503},     {"overloaded", 503}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(code, map[i].code) == 0)
            return map[i].status;
    return HTTP_STATUS_INTERNAL_SERVER_ERROR;
}

void gw_api_reply(gw_t *gw, uint64_t sess, const msgpack_object *body)
{
    gw_api_req_t *r = gw->api ? pl_map_removei(gw->api->waiting, sess) : NULL;
    if (!r)
        return; /* the client went away */
    if (r->gather_n && !pl_mp_str_eq(pl_mp_get(body, "type"), "error")) {
        gather_reply(gw, r, body);
        return;
    }
    gather_forget(gw, r); /* an error answers for all */
    r->waiting = 0;
    r->id = 0;
    const msgpack_object *type = pl_mp_get(body, "type");
    if (pl_mp_str_eq(type, "error")) {
        char code[32] = "internal", msg[256] = "internal error";
        (void)pl_mp_strcpy(body, "code", code, sizeof code);
        (void)pl_mp_strcpy(body, "message", msg, sizeof msg);
        int status = status_of(code);
        if (status == HTTP_STATUS_INTERNAL_SERVER_ERROR)
            snprintf(code, sizeof code, "internal");
        gw_api_error(gw, r, status, code, msg);
        return;
    }
    /* The answer is the reply without its `type` (and `http`, a service's choice of
       status, e.g. 200 for a repeated temp_id instead of the route's 201). */
    int64_t status = r->route ? r->route->status : HTTP_STATUS_OK;
    (void)pl_mp_int(body, "http", &status);
    uint32_t n = 0;
    msgpack_object_kv *kv = malloc((body->via.map.size + 1) * sizeof *kv);
    for (uint32_t i = 0; kv && i < body->via.map.size; i++) {
        const msgpack_object *k = &body->via.map.ptr[i].key;
        if (!pl_mp_str_eq(k, "type") && !pl_mp_str_eq(k, "http"))
            kv[n++] = body->via.map.ptr[i];
    }
    msgpack_object obj = pl_mp_obj_map(kv, n);
    pl_buf_t b;
    pl_buf_init(&b, 0);
    if (kv && pl_msgpack_to_json(&obj, &b) == 0 && pl_buf_putc(&b, '\n') == 0)
        gw_api_raw(gw, r, (int)status, "application/json", b.data, b.len);
    else
        gw_api_error(gw, r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "internal error");
    pl_buf_free(&b);
    free(kv);
}

void gw_api_timeout(gw_t *gw, uint64_t sess)
{
    gw_api_req_t *r = gw->api ? pl_map_removei(gw->api->waiting, sess) : NULL;
    if (!r)
        return;
    gather_forget(gw, r);
    r->waiting = 0;
    r->id = 0;
    gw_api_error(gw, r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                 "the service did not answer in time; the outcome is unknown, retry with the "
                 "same temp_id");
}

/* ---- the bus ------------------------------------------------------------------- */

void gw_api_forward(gw_t *gw, gw_api_req_t *r, proto_svc_t svc, const char *ev, const char *uid,
                    const char *packed, size_t len)
{
    uint64_t sess = ++gw->next_conn_id; /* never a connection's id: replies cannot mix */
    uint64_t rq = ++gw->next_rq;
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    int64_t now = pl_wall_ms(); /* ts: may be shed, answered 503 overloaded */
    proto_pack_request_head_ts(&pk, ev, ev, gw->gwid, sess, rq, uid, PROTO_ROLE_SYSTEM, NULL,
                               now + gw->cfg.request_timeout_ms, now);
    msgpack_sbuffer_write(&gw->scratch, packed, len);
    if (pl_map_puti(gw->api->waiting, sess, r) != 0) {
        gw_api_error(gw, r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    r->id = sess;
    r->waiting = 1;
    if (gw_router_pending_api(gw, sess, rq) != 0 ||
        gw_bus_request(gw, svc, gw->scratch.data, gw->scratch.size) != 0) {
        gw_router_drop_pending(gw, rq);
        pl_map_removei(gw->api->waiting, sess);
        r->waiting = 0;
        r->id = 0;
        gw_api_error(gw, r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                     "the service is unavailable, try again");
    }
}

void gw_api_gather(gw_t *gw, gw_api_req_t *r, const proto_svc_t *svcs, int n, const char *ev,
                   const char *packed, size_t len, int64_t limit)
{
    if (n > GW_API_GATHER_MAX)
        n = GW_API_GATHER_MAX;
    r->gathered = json_array();
    r->gather_limit = limit;
    int ok = r->gathered != NULL;
    for (int i = 0; i < n && ok; i++) {
        uint64_t sess = ++gw->next_conn_id, rq = ++gw->next_rq;
        msgpack_sbuffer_clear(&gw->scratch);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
        int64_t now = pl_wall_ms();
        proto_pack_request_head_ts(&pk, ev, ev, gw->gwid, sess, rq, "", PROTO_ROLE_SYSTEM, NULL,
                                   now + gw->cfg.request_timeout_ms, now);
        msgpack_sbuffer_write(&gw->scratch, packed, len);
        if (pl_map_puti(gw->api->waiting, sess, r) != 0) {
            ok = 0;
            break;
        }
        r->gather_ids[r->gather_n++] = sess;
        r->gather_left++;
        if (gw_router_pending_api(gw, sess, rq) != 0 ||
            gw_bus_request(gw, svcs[i], gw->scratch.data, gw->scratch.size) != 0) {
            gw_router_drop_pending(gw, rq);
            ok = 0;
        }
    }
    r->waiting = 1;
    if (!ok) {
        gather_forget(gw, r);
        r->waiting = 0;
        gw_api_error(gw, r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                     "a service is unavailable, try again");
    }
}

/* ---- query arguments ----------------------------------------------------------- */

int gw_api_query_str(gw_api_req_t *r, const char *name, char *out, size_t cap)
{
    /* lws copies the whole "name=value" into the buffer before it compares. */
    char key[40], arg[256];
    snprintf(key, sizeof key, "%s=", name);
    const char *v = lws_get_urlarg_by_name(r->wsi, key, arg, (int)sizeof arg);
    if (!v)
        return 0;
    snprintf(out, cap, "%s", v);
    return 1;
}

int gw_api_query_int(gw_t *gw, gw_api_req_t *r, const char *name, int64_t min, int64_t max,
                     int64_t *out)
{
    char v[64]; /* a longer value is cut, but past 19 digits strtoll says ERANGE */
    if (!gw_api_query_str(r, name, v, sizeof v))
        return 0;
    char *end = NULL;
    errno = 0;
    long long n = v[0] ? strtoll(v, &end, 10) : 0;
    if (!v[0] || *end || errno || n < min || n > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s: must be an integer from %lld", name, (long long)min);
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request", msg);
        return -1;
    }
    *out = n;
    return 1;
}

/* ---- routing ------------------------------------------------------------------- */

/* Does `path` fit `pattern`? Segments in braces are captured into r->params. */
static int match(const char *pattern, const char *path, gw_api_req_t *r)
{
    int np = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *pe = strchr(pattern, '}');
            const char *se = strchr(path, '/');
            size_t n = se ? (size_t)(se - path) : strlen(path);
            if (!pe || n == 0 || n > GW_API_PARAM_MAX || np == GW_API_PARAMS)
                return 0;
            memcpy(r->params[np], path, n);
            r->params[np++][n] = '\0';
            pattern = pe + 1;
            path += n;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

static const char *method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } m[] = {{WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
             {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_PUT_URI, "PUT"},
             {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (lws_hdr_total_length(wsi, m[i].tok) > 0)
            return m[i].name;
    return "?";
}

/* The key of `Authorization: Bearer <key>`: 1 when it is one of API_KEYS. */
static int authorized(gw_t *gw, struct lws *wsi)
{
    char auth[4200];
    int n = lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *k = auth + 7;
    while (*k == ' ')
        k++;
    return gw_api_keys_check(gw->api->keys, k, strlen(k));
}

static void reset(gw_t *gw, gw_api_req_t *r, struct lws *wsi)
{
    gather_forget(gw, r);
    if (r->waiting && gw->api)
        pl_map_removei(gw->api->waiting, r->id);
    pl_buf_free(&r->body);
    pl_buf_free(&r->out);
    memset(r, 0, sizeof *r);
    r->wsi = wsi;
}

/* Run the route with the body parsed (NULL when there is none). */
static void dispatch(gw_t *gw, gw_api_req_t *r)
{
    if (r->body_over) {
        gw_api_error(gw, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "too_large",
                     "the request body is over 1 MiB");
        return;
    }
    if (r->body.len == 0) {
        r->route->handle(gw, r, NULL);
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    char err[128];
    /* Raw text: strings are judged by proto_validate in the handler, which names the
       field (as for client frames). */
    if (pl_json_to_msgpack_ex(r->body.data, r->body.len, PL_JSON_RAW_TEXT, &sb, err, sizeof err) !=
        0)
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request", err);
    else if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
             up.data.type != MSGPACK_OBJECT_MAP)
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                     "the body must be a JSON object");
    else
        r->route->handle(gw, r, &up.data);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* The request's Content-Length (0 when none or unreadable). */
static long long content_length(struct lws *wsi)
{
    char cl[24];
    return lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ? atoll(cl) : 0;
}

/* Answers a request refused before its body is read (no key, no route). A body still
   on its way is dropped as it comes and the answer sent once it has all arrived (up to
   GW_API_DRAIN_MAX); the connection closes after the answer. */
static void refuse_early(gw_t *gw, gw_api_req_t *r, struct lws *wsi, int status, const char *code,
                         const char *msg)
{
    long long len = content_length(wsi);
    if (len > 0) {
        r->body_over = 1;
        r->close_after = 1;
        r->draining = len <= GW_API_DRAIN_MAX;
    }
    gw_api_error(gw, r, status, code, msg);
}

static int on_http(gw_t *gw, gw_api_req_t *r, struct lws *wsi, const char *path)
{
    reset(gw, r, wsi);
    snprintf(r->method, sizeof r->method, "%s", method_of(wsi));
    size_t n;
    const gw_api_route_t *routes = gw_api_routes(&n), *found = NULL;
    int path_known = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (!match(routes[i].path, path, r))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, r->method) == 0)
            found = &routes[i];
    }
    /* Without a valid key nothing but the public document is told apart: an unknown
       route is 401 too. */
    if (!(found && found->public_route) && !authorized(gw, wsi)) {
        refuse_early(gw, r, wsi, HTTP_STATUS_UNAUTHORIZED, "unauthenticated",
                     "Authorization: Bearer <API key> is required");
        return 0;
    }
    if (!found) {
        if (path_known)
            refuse_early(gw, r, wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "bad_request",
                         "this method is not served on this route");
        else
            refuse_early(gw, r, wsi, HTTP_STATUS_NOT_FOUND, "not_found", "no such route");
        return 0;
    }
    r->route = found;
    long long len = content_length(wsi);
    if (len > GW_API_BODY_MAX) {
        /* Refused before it is read: the body is dropped as it comes (up to
           GW_API_DRAIN_MAX, then the answer goes out) and the connection closes after
           the answer, so no byte of it reaches a next request. */
        r->close_after = 1;
        r->body_over = 1;
        r->draining = len <= GW_API_DRAIN_MAX;
        dispatch(gw, r);
        return 0;
    }
    if (len > 0)
        return 0; /* the body comes in HTTP_BODY, then BODY_COMPLETION dispatches */
    dispatch(gw, r);
    return 0;
}

static int on_body(gw_api_req_t *r, const void *in, size_t len)
{
    if (r->body_over)
        return 0;
    if (r->body.len + len > GW_API_BODY_MAX) {
        r->body_over = 1;
        r->close_after = 1;
        pl_buf_free(&r->body);
        return 0;
    }
    return pl_buf_append(&r->body, in, len) ? -1 : 0;
}

static int on_writeable(gw_t *gw, gw_api_req_t *r, struct lws *wsi)
{
    (void)gw;
    if (!r->answered || r->draining)
        return 0;
    if (!r->hdr_sent) {
        unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                                          *end = hdr + sizeof hdr;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status,
                                        r->type ? r->type : "application/json", r->out.len, &p,
                                        end) ||
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                         (const unsigned char *)"no-store", 8, &p, end) ||
            (r->close_after &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
                                          5, &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->hdr_sent = 1;
        if (r->out.len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else if (r->out.len) {
        unsigned char *buf = malloc(LWS_PRE + r->out.len);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, r->out.data, r->out.len);
        int w = lws_write(wsi, buf + LWS_PRE, r->out.len, LWS_WRITE_HTTP_FINAL);
        free(buf);
        if (w != (int)r->out.len)
            return -1;
    }
    int close = r->close_after;
    reset(gw, r, wsi);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_t *gw = lws_context_user(lws_get_context(wsi));
    gw_api_req_t *r = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return r ? on_http(gw, r, wsi, (const char *)in) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return r ? on_body(r, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!r)
            return -1;
        if (r->draining) { /* the refused body is all read: now the answer */
            r->draining = 0;
            if (r->answered)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (r->answered || r->waiting) /* refused early, or over the size limit */
            return 0;
        if (!r->route)
            return -1;
        dispatch(gw, r);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return r ? on_writeable(gw, r, wsi) : -1;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (r)
            reset(gw, r, NULL);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return -1; /* no WebSocket on the API listener */
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        return gw_tls_attach(gw->tls, user) ? -1 : 0; /* user: this vhost's SSL_CTX */
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols s_protocols[] = {
    {"parley-api", callback, sizeof(gw_api_req_t), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- life cycle ---------------------------------------------------------------- */

int gw_api_init(gw_t *gw)
{
    int64_t port;
    if (pl_env_int("API_PORT", 0, 0, 65535, &port))
        return -1;
    if (port == 0)
        return 0; /* no API listener */
    const char *bind = pl_env_str("API_BIND", "127.0.0.1");
    const char *spec = pl_env_str("API_KEYS", NULL);
    if (!spec || !*spec) {
        pl_error("bad configuration", "var=API_KEYS reason=\"required when API_PORT is set\"");
        return -1;
    }
    gw_api_t *api = calloc(1, sizeof *api);
    if (!api)
        return -1;
    gw->api = api;
    api->port = (int)port;
    api->keys = gw_api_keys_new(spec);
    api->waiting = pl_map_new();
    if (!api->keys || !api->waiting)
        return -1;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.vhost_name = "api";
    info.port = (int)port;
    info.iface = bind;
    info.protocols = s_protocols;
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.timeout_secs = 10;
    info.keepalive_timeout = 30;
    gw_tls_vhost_info(gw->tls, &info); /* TLS here too when the gateway has it */
    api->vhost = lws_create_vhost(gw->ctx, &info);
    if (!api->vhost) {
        pl_error("cannot listen",
                 "var=API_PORT port=%d bind=%s reason=\"port in use or bad address\"", (int)port,
                 bind);
        return -1;
    }
    pl_info("api listening", "port=%d bind=%s keys=%zu", (int)port, bind,
            gw_api_keys_count(api->keys));
    return 0;
}

void gw_api_free(gw_t *gw)
{
    gw_api_t *api = gw->api;
    if (!api)
        return;
    gw_api_keys_destroy(&api->keys);
    pl_map_destroy(&api->waiting);
    free(api);
    gw->api = NULL;
}

/*  gw_static: the demo web page on the gateway's port, and development tokens.
    GET / (without an upgrade) is WEB_ROOT/index.html; GET /web/<file> and
    /static/<file> are files under WEB_ROOT. GET /dev/token?sub=…&role=…[&name=…] mints
    an HS256 token, but only when DEV_TOKENS=1 (the `make run` dev stack sets it):
    otherwise that path does not exist (404), so a production gateway never mints.
    The one thing to know: a path is served only if every segment is a plain name
    ([A-Za-z0-9._-], not starting with a dot), so nothing outside WEB_ROOT (no `..`,
    no hidden file) can be named, and no symlink is followed; libwebsockets sends a file
    in pieces as the socket takes them (lws_serve_http_file), never reading it whole on
    the loop thread. */
#include "gw.h"

#include <errno.h>
#include <fcntl.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_text.h"

#ifndef PARLEY_WEB_ROOT
#define PARLEY_WEB_ROOT "web"
#endif

#define PATH_MAX_BYTES 256
#define DEV_TOKEN_TTL_S 86400
#define DEV_SUB_MAX 64
#define DEV_NAME_MAX 64
#define URLARG_MAX 512

static const struct {
    const char *ext;
    const char *type;
} s_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
    {".woff2", "font/woff2"},
    {".webmanifest", "application/manifest+json"},
};

int gw_static_init(gw_t *gw)
{
    int64_t dev;
    if (pl_env_int("DEV_TOKENS", 0, 0, 1, &dev))
        return -1;
    gw->dev_tokens = (int)dev;
    if (gw->dev_tokens && strcmp(gw->cfg.jwt_alg, "HS256") != 0) {
        pl_error("bad configuration", "var=DEV_TOKENS reason=\"dev tokens need JWT_ALG=HS256\"");
        return -1;
    }
    gw->web_root = strdup(pl_env_str("WEB_ROOT", PARLEY_WEB_ROOT));
    if (!gw->web_root)
        return -1;
    if (gw->dev_tokens)
        pl_warn("dev tokens enabled", "path=/dev/token reason=\"DEV_TOKENS=1: anyone can log in "
                                      "as anyone; never in production\"");
    struct stat st;
    if (stat(gw->web_root, &st) != 0 || !S_ISDIR(st.st_mode))
        pl_info("no web root", "web_root=%s effect=\"GET / answers 404\"", gw->web_root);
    return 0;
}

void gw_static_free(gw_t *gw)
{
    free(gw->web_root);
    gw->web_root = NULL;
}

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof s_types / sizeof s_types[0]; i++)
        if (strcasecmp(dot, s_types[i].ext) == 0)
            return s_types[i].type;
    return "application/octet-stream";
}

/* 1 if rel ("app.js", "img/logo.svg") is made only of plain names. */
static int plain_path(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n >= PATH_MAX_BYTES)
        return 0;
    const char *seg = rel;
    for (const char *p = rel;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == seg || *seg == '.')
                return 0; /* empty segment, `.`, `..` or a hidden file */
            if (*p == '\0')
                return 1;
            seg = p + 1;
            continue;
        }
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return 0;
    }
}

/* WEB_ROOT/rel into full, if it is a regular file (a symlink is not followed: nothing
   outside WEB_ROOT is served). 0, or -1. */
static int find_file(gw_t *gw, const char *rel, char *full, size_t cap)
{
    if ((size_t)snprintf(full, cap, "%s/%s", gw->web_root, rel) >= cap)
        return -1;
    struct stat st;
    return lstat(full, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -1;
}

static int dev_sub_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DEV_SUB_MAX)
        return 0;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == '@'))
            return 0;
    }
    return 1;
}

static int dev_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n <= DEV_NAME_MAX && !pl_text_has_control(s, n);
}

/* GET /dev/token: {"token","user_id","role","expires_in"} or 400 with a reason. */
static void dev_token(gw_t *gw, struct lws *wsi, pl_buf_t *b, int *status)
{
    /* lws copies every query fragment into the buffer while it looks for the name,
       so each buffer must hold the longest fragment, not just the value wanted. */
    char sub[URLARG_MAX] = "", role[URLARG_MAX] = "", name[URLARG_MAX] = "";
    const char *v;
    if ((v = lws_get_urlarg_by_name(wsi, "sub=", sub, sizeof sub)))
        memmove(sub, v, strlen(v) + 1);
    else
        sub[0] = '\0';
    if ((v = lws_get_urlarg_by_name(wsi, "role=", role, sizeof role)))
        memmove(role, v, strlen(v) + 1);
    else
        role[0] = '\0';
    if ((v = lws_get_urlarg_by_name(wsi, "name=", name, sizeof name)))
        memmove(name, v, strlen(v) + 1);
    else
        name[0] = '\0';
    pl_role_t r = pl_role_parse(role, strlen(role));
    if (!dev_sub_ok(sub) || r == PL_ROLE_NONE || !dev_name_ok(name)) {
        *status = HTTP_STATUS_BAD_REQUEST;
        pl_buf_puts(b, "{\"error\":\"sub: 1 to 64 of [A-Za-z0-9._@-]; role: student, mentor "
                       "or admin; name: at most 64 bytes\"}\n");
        return;
    }
    jwt_t *jwt = NULL;
    char *tok = NULL;
    int64_t now = pl_wall_ms() / 1000;
    if (jwt_new(&jwt) == 0 && jwt_add_grant(jwt, "sub", sub) == 0 &&
        jwt_add_grant(jwt, "role", pl_role_name(r)) == 0 &&
        (!name[0] || jwt_add_grant(jwt, "name", name) == 0) &&
        jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)(now + DEV_TOKEN_TTL_S)) == 0 &&
        /* the gateway's own iss/aud expectations (JWT_ISSUER, JWT_AUDIENCE) */
        (!gw->cfg.jwt_issuer || jwt_add_grant(jwt, "iss", gw->cfg.jwt_issuer) == 0) &&
        (!gw->cfg.jwt_audience || jwt_add_grant(jwt, "aud", gw->cfg.jwt_audience) == 0) &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)gw->cfg.jwt_key,
                    (int)gw->cfg.jwt_key_len) == 0)
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!tok) {
        *status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        pl_buf_puts(b, "{\"error\":\"internal\"}\n");
        return;
    }
    /* sub is plain ASCII (checked above): no JSON escaping needed. */
    pl_buf_printf(b, "{\"token\":\"%s\",\"user_id\":\"%s\",\"role\":\"%s\",\"expires_in\":%d}\n",
                  tok, sub, pl_role_name(r), DEV_TOKEN_TTL_S);
    free(tok);
    pl_info("dev token minted", "user=%s role=%s", sub, pl_role_name(r));
}

gw_static_t gw_static_request(gw_t *gw, struct lws *wsi, const char *path, pl_buf_t *b,
                              const char **type, int *status, char *file, size_t filecap)
{
    if (strcmp(path, "/dev/token") == 0) {
        if (!gw->dev_tokens)
            return GW_STATIC_NONE; /* not a path of a production gateway */
        *type = "application/json";
        dev_token(gw, wsi, b, status);
        return GW_STATIC_BODY;
    }
    const char *rel = NULL;
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 || strcmp(path, "/web/") == 0 ||
        strcmp(path, "/static/") == 0)
        rel = "index.html";
    else if (strncmp(path, "/web/", 5) == 0)
        rel = path + 5;
    else if (strncmp(path, "/static/", 8) == 0)
        rel = path + 8;
    else if (strcmp(path, "/favicon.ico") == 0)
        rel = "favicon.ico";
    if (!rel)
        return GW_STATIC_NONE;
    if (!plain_path(rel) || find_file(gw, rel, file, filecap) != 0) {
        pl_buf_reset(b);
        *status = HTTP_STATUS_NOT_FOUND;
        *type = "text/plain; charset=utf-8";
        pl_buf_puts(b, "not found\n");
        return GW_STATIC_BODY;
    }
    *status = HTTP_STATUS_OK;
    *type = content_type(rel);
    return GW_STATIC_FILE;
}

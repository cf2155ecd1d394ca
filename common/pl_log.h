/*  pl_log: one-line structured logs on stderr.
    The one thing to know: a line is `ts=… level=… svc=… msg="…" k=v …` (logfmt), or one
    JSON object per line with LOG_FORMAT=json. Never log tokens or message content. */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { PL_LOG_DEBUG = 0, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR } pl_log_level_t;

/* Read LOG_LEVEL (debug|info|warn|error, default info) and LOG_FORMAT (text|json).
   `service` names the process in every line. Returns -1 on a bad value. */
int pl_log_init(const char *service);
int pl_log_enabled(pl_log_level_t level);

/* `msg` is a short fixed event name ("listening", "db connect failed"); `kv` is
   optional extra `key=value` pairs, already formatted (printf-style). */
void pl_log(pl_log_level_t level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Format `fmt`'s key=value pairs into out (always NUL-terminated) the way pl_log does:
   string values are escaped so that no value can forge a field or break the line
   (quoted when bare and holding a space, '=', a quote, a backslash or a control
   character; escaped inside the format's own quotes). Returns the length written. */
size_t pl_log_kv(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t pl_log_vkv(char *out, size_t cap, const char *fmt, va_list ap);

#define pl_debug(msg, ...) \
    do { if (pl_log_enabled(PL_LOG_DEBUG)) pl_log(PL_LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define pl_info(msg, ...) pl_log(PL_LOG_INFO, msg, __VA_ARGS__)
#define pl_warn(msg, ...) pl_log(PL_LOG_WARN, msg, __VA_ARGS__)
#define pl_error(msg, ...) pl_log(PL_LOG_ERROR, msg, __VA_ARGS__)

#endif

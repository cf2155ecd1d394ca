/*  pl_buf: a growable byte buffer.
    The one thing to know: pl_buf_t is a plain struct you may put on the stack
    or inside another struct; data is always NUL-terminated (handy for text),
    and len never counts that NUL. */
#ifndef PL_BUF_H
#define PL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t reserve; /* bytes kept free in front of data (e.g. LWS_PRE) */
} pl_buf_t;

/* Initialise an empty buffer. `front` bytes of headroom are kept before data. */
void pl_buf_init(pl_buf_t *self, size_t front);
/* Free the storage; the buffer is empty and reusable afterwards. */
void pl_buf_free(pl_buf_t *self);
/* Forget the content, keep the storage. */
void pl_buf_reset(pl_buf_t *self);
/* Make room for `more` bytes past len. 0 on success, -1 on allocation failure. */
int pl_buf_grow(pl_buf_t *self, size_t more);
int pl_buf_append(pl_buf_t *self, const void *bytes, size_t n);
int pl_buf_putc(pl_buf_t *self, char c);
int pl_buf_puts(pl_buf_t *self, const char *s);
int pl_buf_printf(pl_buf_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the storage (headroom included) to the caller: returns the start of the
   allocation, data begins `reserve` bytes after it. The buffer is left empty. */
char *pl_buf_detach(pl_buf_t *self, size_t *len_out);

#endif

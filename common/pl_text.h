/*  pl_text: what Parley checks about text from outside, defined once: well-formed UTF-8
    (the Unicode standard's Table 3-7: no overlongs, no surrogates, nothing past
    U+10FFFF), code point counts for size limits, and control characters. */
#ifndef PL_TEXT_H
#define PL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence at p (before end), or 0 if it is
   ill-formed; then *bad is the length of its maximal ill-formed prefix (>= 1), the
   bytes one U+FFFD replaces. */
size_t pl_utf8_seq(const unsigned char *p, const unsigned char *end, size_t *bad);
/* The same, also decoding the code point into *cp. */
size_t pl_utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp);
/* Code points of valid UTF-8 text (for limits in characters); -1 if not valid UTF-8. */
long pl_utf8_count(const char *s, size_t len);
/* Does s[0..n) hold a C0 control character or DEL (bytes 0x00-0x1F, 0x7F)? */
int pl_text_has_control(const char *s, size_t n);
/* Is s[0..n) a user id as every service accepts one: 1 to 128 bytes (a token's `sub`,
   PL_USER_ID_MAX), no control character (0x1f joins ids in the stores)? */
int pl_user_id_valid(const char *s, size_t n);

#endif

/*
 * str.h - length-counted, growable, binary-safe strings.
 *
 * The buffer is always NUL-terminated (so str_c() can be handed to C APIs)
 * but may also contain NUL bytes; len is the truth.  An optional maximum
 * size makes growth past it an error the caller sees (-1), never a silent
 * truncation: the string is left unchanged by a failing append.
 */
#ifndef TERN_STR_H
#define TERN_STR_H

#include "sys.h"

typedef struct str {
    char *s;    /* data, always NUL-terminated at s[len] */
    size_t len; /* bytes in use, not counting the terminator */
    size_t cap; /* bytes allocated, including room for the terminator */
    size_t max; /* 0 = unlimited, else the largest len allowed */
} str_t;

str_t *str_new(size_t hint);
/* A string whose length may never exceed max bytes (0 = unlimited). */
str_t *str_new_max(size_t hint, size_t max);
void str_free(str_t **sp);

static inline const char *str_c(const str_t *s)
{
    return s->s;
}
static inline size_t str_len(const str_t *s)
{
    return s->len;
}

void str_reset(str_t *s);
/* Shorten to len bytes (no-op if already shorter). */
void str_truncate(str_t *s, size_t len);

/* Appenders return 0, or -1 when the result would exceed the maximum. */
int str_append(str_t *s, const void *data, size_t n);
int str_appendz(str_t *s, const char *z);
int str_appendc(str_t *s, char c);
int str_appendf(str_t *s, const char *fmt, ...) TERN_PRINTF(2, 3);
int str_vappendf(str_t *s, const char *fmt, va_list ap);
int str_set(str_t *s, const void *data, size_t n);
int str_setz(str_t *s, const char *z);
int str_setf(str_t *s, const char *fmt, ...) TERN_PRINTF(2, 3);

/* Remove one trailing "\n" or "\r\n"; returns the number of bytes removed. */
size_t str_chomp(str_t *s);
/* Strip leading and trailing ASCII whitespace in place. */
void str_trim(str_t *s);
/* Lower-case ASCII letters in place. */
void str_lower(str_t *s);

/* Hand the NUL-terminated buffer to the caller (to free()); s is freed. */
char *str_steal(str_t **sp);

/* Allocating printf into a new C string (never NULL). */
char *xasprintf(const char *fmt, ...) TERN_PRINTF(1, 2);

/*
 * Append a printable rendering of untrusted bytes for logging: bytes
 * outside 0x20..0x7e become '?', and at most limit bytes are taken.
 */
void str_append_printable(str_t *s, const void *data, size_t n, size_t limit);

/*
 * The error_r convention: set *error_r (when error_r is not NULL) to a
 * newly allocated message, keep errno as it was, and return -1, so a
 * failing function can end with "return error_set(error_r, ...);".
 */
int error_set(char **error_r, const char *fmt, ...) TERN_PRINTF(2, 3);

/* Bounded C-string copy that always terminates; returns -1 on truncation. */
int str_lcpy(char *dst, const char *src, size_t dstsize);

#endif

/*
 * attr.h - the attribute protocol every pair of tern daemons speaks over
 * UNIX stream sockets (and the stream_t deadlines that come with them).
 *
 * WIRE FORMAT
 *
 * A record is a sequence of lines "name=value\n" ended by an empty line
 * "\n".  A request is one record; so is each reply.  Example, as seen with
 * `socat - UNIX-CONNECT:private/local`:
 *
 *     request=deliver
 *     queue_id=3F2A1B
 *     sender=alice@example.org
 *     note=two%0Alines and 100%25 binary-safe %00
 *
 * - name: 1 or more bytes of [a-z0-9_], starting with a letter.
 * - value: any bytes.  On the wire, bytes 0x20..0x7e other than '%' stand
 *   for themselves; every other byte (controls, DEL, 8-bit bytes, '%') is
 *   written as '%' and two hex digits (the writer uses upper case, the
 *   reader accepts either).  Everything after the first '=' is the value,
 *   so a value may contain '=' unescaped.  An empty value is legal.
 * - A raw byte outside 0x20..0x7e inside a line (CR, TAB, NUL, 8-bit) is
 *   malformed, as is a line without '=', an empty or bad name, or a '%'
 *   not followed by two hex digits.
 * - Types are not marked on the wire: the reader's getters check the value
 *   (an integer is strict decimal "-?[1-9][0-9]*|0" in range; a string must
 *   not contain NUL; data is any bytes).
 * - A name may repeat within a record (lists); the single-value getters
 *   refuse an ambiguous repeated name, callers of lists walk list->items.
 * - Unknown names are kept in the list and ignored by whoever does not ask
 *   for them, so a protocol can grow by adding attributes.
 *
 * Every record read is bounded (struct attr_limits): the length of a name,
 * the decoded length of a value and the number of attributes.  Exceeding a
 * limit is an error reported to the caller, never a truncation.  After an
 * error the stream position is undefined: the caller drops the connection.
 *
 * WRITING
 *
 *     attr_put_str(s, "request", "deliver");
 *     attr_put_int(s, "size", size);
 *     attr_end(s);
 *     if (stream_flush(s) != STREAM_OK) ...
 *
 * The put functions return the stream's (sticky) status, so checking the
 * flush is enough.  A bad attribute name is a programming error (panic).
 *
 * READING
 *
 *     struct attr_list *l = attr_list_new();
 *     const char *err, *sender;
 *     long long size;
 *     if (attr_read(s, l, NULL, &err) < 0)           -> err says why
 *     if (attr_require(l, "sender", "size", NULL) < 0
 *         || attr_get_str(l, "sender", &sender) < 0
 *         || attr_get_int_range(l, "size", 0, LLONG_MAX, &size) < 0)
 *         msg_warn("...: %s", attr_error(l));
 *
 * Strings returned point into the list and stay valid until the next
 * attr_read or attr_list_reset/free on that list.
 */
#ifndef TERN_ATTR_H
#define TERN_ATTR_H

#include "sys.h"
#include "stream.h"

/* Bounds on one record; a zero field means the default below. */
struct attr_limits {
    size_t max_name;  /* longest name in bytes */
    size_t max_value; /* longest decoded value in bytes */
    size_t max_attrs; /* most attributes (lines) in one record */
};

#define ATTR_DEFAULT_MAX_NAME 64
#define ATTR_DEFAULT_MAX_VALUE 8192
#define ATTR_DEFAULT_MAX_ATTRS 256

struct attr {
    char *name;
    char *value; /* decoded, NUL-terminated at value[len], may hold NULs */
    size_t len;
};

struct attr_list {
    struct attr *items;
    size_t count;
    size_t cap;
    char *error; /* reason for the last failure (attr_error) */
    str_t *line; /* private: attr_read's line buffer */
};

/* attr_read results besides 0: both set the reason. */
#define ATTR_ERROR (-1) /* malformed, over a limit, timeout, I/O error */
#define ATTR_EOF (-2)   /* peer closed cleanly before a new record */

/* ---- writing ------------------------------------------------------ */

int attr_put_str(stream_t *s, const char *name, const char *value);
int attr_put_int(stream_t *s, const char *name, long long value);
int attr_put_data(stream_t *s, const char *name, const void *data, size_t len);
/* End the record (the empty line).  Does not flush. */
int attr_end(stream_t *s);

/* ---- reading ------------------------------------------------------ */

struct attr_list *attr_list_new(void);
void attr_list_free(struct attr_list **listp);
void attr_list_reset(struct attr_list *list);

/*
 * Read one whole record into list (replacing its contents).  Returns 0,
 * ATTR_EOF when the peer closed before the first byte of a record, or
 * ATTR_ERROR.  On failure *error_r (also attr_error(list)) says why; it
 * is owned by the list.  limits may be NULL for the defaults.
 */
int attr_read(stream_t *s, struct attr_list *list, const struct attr_limits *limits,
              const char **error_r);

/*
 * Decode one record from memory (the same rules as attr_read).  The
 * record must end with its empty line; *used_r gets the bytes consumed.
 * Input that ends before the empty line is an error.
 */
int attr_parse(const void *buf, size_t len, struct attr_list *list,
               const struct attr_limits *limits, size_t *used_r, const char **error_r);

/* Reason for the last failure on this list ("" if none). */
const char *attr_error(const struct attr_list *list);

/* The first attribute called name, or NULL; count of those called name. */
const struct attr *attr_find(const struct attr_list *list, const char *name);
size_t attr_count(const struct attr_list *list, const char *name);

/*
 * Fail (-1, reason in attr_error) unless every name in the NULL-terminated
 * argument list is present: "missing attribute 'queue_id'".
 */
int attr_require(struct attr_list *list, ...) __attribute__((sentinel));

/*
 * Typed getters: 0, or -1 when the attribute is missing, repeated, or its
 * value is not of the type (reason in attr_error).
 */
int attr_get_str(struct attr_list *list, const char *name, const char **value_r);
int attr_get_data(struct attr_list *list, const char *name, const void **data_r, size_t *len_r);
int attr_get_int(struct attr_list *list, const char *name, long long *value_r);
int attr_get_int_range(struct attr_list *list, const char *name, long long min, long long max,
                       long long *value_r);
/* As attr_get_str, but a missing attribute yields def and 0. */
int attr_get_str_opt(struct attr_list *list, const char *name, const char *def,
                     const char **value_r);

/* Strict decimal: "-?[1-9][0-9]*" or "0", no spaces, no '+', in range. */
int attr_parse_int(const char *text, size_t len, long long *value_r);

/* Connect to a service's UNIX socket: a stream (owning the fd) with the
 * given per-operation timeout, or NULL with a malloc'ed *error_r. */
stream_t *attr_connect(const char *path, int timeout_ms, char **error_r);

#endif

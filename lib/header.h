/*
 * header.h - RFC 5322 message header helpers: a streaming reader that
 * cuts a message into logical header fields (with their folding) and
 * body bytes, plus small parsers for one field: name/value split,
 * unfolding, and address lists (To/Cc/Bcc for sendmail -t).
 *
 * Everything here reads untrusted input: every function takes (pointer,
 * length), never reads past it, and keeps bounded state.  Content is
 * never lost or altered by the reader: the concatenation of every FIELD
 * and BODY event is exactly the input.
 *
 * THE READER
 *
 *     header_reader_t *r = header_reader_new(max, on_event, ctx);
 *     header_reader_feed(r, data, len);  ... any number of times
 *     header_reader_finish(r);
 *     header_reader_free(&r);
 *
 * Events, in order: zero or more HEADER_EV_FIELD (one logical header:
 * its first line and any continuation lines, each with its "\n"; the
 * last line of the input may lack it), then exactly one HEADER_EV_END,
 * then zero or more HEADER_EV_BODY with the remaining bytes verbatim
 * (starting with the empty separator line, when there is one).  The
 * header section ends at:
 *   - an empty line ("\n")                      HEADER_END_BLANK
 *   - a line that is not a header field nor a continuation (no "name:"
 *     at its start; "name :" with spaces before the colon is accepted
 *     as obsolete syntax)                        HEADER_END_NONHEADER
 *   - the header section growing past max bytes (the field being read is
 *     then passed on as body, unchecked)         HEADER_END_OVERSIZE
 *   - the end of the input                       HEADER_END_EOF
 * The reader holds at most one logical field in memory, and never more
 * than max bytes.  A callback returning -1 stops the reader: feed and
 * finish then return -1 at once and forever.
 */
#ifndef TERN_HEADER_H
#define TERN_HEADER_H

#include "sys.h"
#include "str.h"

enum header_event { HEADER_EV_FIELD, HEADER_EV_END, HEADER_EV_BODY };
enum header_end {
    HEADER_END_NONE = 0, /* still in the header section */
    HEADER_END_BLANK,
    HEADER_END_NONHEADER,
    HEADER_END_OVERSIZE,
    HEADER_END_EOF,
};

/* data/len: the field or body bytes (NULL/0 for END).  0, or -1 to stop. */
typedef int header_event_fn(enum header_event ev, const char *data, size_t len, void *ctx);

typedef struct header_reader header_reader_t;

/* max: the most bytes of header section parsed as headers (> 0). */
header_reader_t *header_reader_new(size_t max, header_event_fn *fn, void *ctx);
void header_reader_free(header_reader_t **rp);
int header_reader_feed(header_reader_t *r, const void *data, size_t len);
/* End of input: flush the pending field, report END if not yet.  0/-1. */
int header_reader_finish(header_reader_t *r);
/* Why the header section ended (HEADER_END_NONE while it goes on). */
enum header_end header_reader_end(const header_reader_t *r);
/* Bytes of header section seen (the FIELD bytes). */
size_t header_reader_header_size(const header_reader_t *r);

/* ---- one field ---------------------------------------------------- */

/*
 * Length of the field name at the start of line (printable ASCII except
 * ':', then optional spaces/tabs, then ':'), or 0 when the line does not
 * start a header field.
 */
size_t header_name_len(const char *line, size_t len);
/* Whether the field's name is name (ASCII case-insensitive). */
bool header_name_is(const char *field, size_t len, const char *name);
/*
 * Split a field into name and value: the value starts after the colon
 * and any spaces/tabs, and ends before the final "\n" (or "\r\n").
 * -1 when field does not start with a name and a colon.
 */
int header_split(const char *field, size_t len, const char **name_r, size_t *name_len_r,
                 const char **value_r, size_t *value_len_r);
/*
 * Append the unfolded form of text to dst (RFC 5322 3.2.2): every line
 * break ("\n" or "\r\n") followed by a space or tab is removed; other
 * line breaks too (a bare "\n" in a value has no meaning).  -1 when dst's
 * maximum would be exceeded (dst then holds a prefix).
 */
int header_unfold(str_t *dst, const char *text, size_t len);

/*
 * Parse an address-list value (RFC 5322 3.4, plus obsolete forms): for
 * each mailbox call fn with its addr-spec (comments, display names, angle
 * brackets and source routes removed; quoted local parts kept as
 * written).  Groups ("team: a@b, c@d;") give their members, empty groups
 * ("undisclosed-recipients:;") nothing.  Elements that are not a
 * plausible addr-spec (empty, spaces or controls inside, unbalanced
 * brackets or quotes) are skipped and counted in the return value:
 * >= 0 the number skipped, or -1 when fn returned -1 (which stops).
 * Addresses longer than HEADER_ADDR_MAX are skipped too.
 */
#define HEADER_ADDR_MAX 998
typedef int header_addr_fn(const char *addr, size_t len, void *ctx);
int header_addr_list(const char *value, size_t len, header_addr_fn *fn, void *ctx);

#endif

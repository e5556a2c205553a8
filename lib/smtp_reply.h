/*
 * smtp_reply.h - SMTP server replies as a client reads them (RFC 5321
 * section 4.2): one or more lines "NNN-text" ended by "NNN text" (or a
 * bare "NNN"), the three-digit code, the optional enhanced status code
 * (RFC 3463) at the start of the text, and the text itself.
 *
 * Everything is bounded: a line longer than SMTP_REPLY_LINE_MAX is cut
 * (the rest is skipped, as a tolerant client does), a reply with more
 * than SMTP_REPLY_LINES_MAX lines is malformed, and the one-line summary
 * kept for logs and DSNs stops growing at SMTP_REPLY_TEXT_MAX bytes.
 * Bytes outside printable ASCII become '?' in the stored text, so a
 * reply can be logged and put into a bounce as it is.
 */
#ifndef TERN_SMTP_REPLY_H
#define TERN_SMTP_REPLY_H

#include "sys.h"
#include "str.h"
#include "stream.h"

#define SMTP_REPLY_LINE_MAX 2048 /* bytes of one line we look at */
#define SMTP_REPLY_LINES_MAX 200 /* lines in one reply */
#define SMTP_REPLY_TEXT_MAX 2000 /* bytes of the one-line summary */

struct smtp_reply {
    int code;     /* 200 .. 599 once complete */
    char enh[16]; /* "X.Y.Z" from the first line, or derived ("4.0.0") */
    bool has_enh; /* the server sent an enhanced status code */
    str_t *text;  /* all lines "NNN-..." joined with single spaces */
    char **lines; /* each line's text after "NNN-" / "NNN " */
    size_t nlines;
    bool complete; /* the last line ("NNN " or "NNN") was seen */
};

/* Results of smtp_reply_read() besides 0. */
enum smtp_reply_status {
    SMTP_REPLY_OK = 0,
    SMTP_REPLY_EOF = -1,     /* the server closed the connection */
    SMTP_REPLY_TIMEOUT = -2, /* no complete reply before the deadline */
    SMTP_REPLY_IOERR = -3,   /* read error (errno) */
    SMTP_REPLY_BAD = -4,     /* not an SMTP reply */
};

void smtp_reply_init(struct smtp_reply *r);
/* Empty the reply for the next one (keeps the allocations it can). */
void smtp_reply_reset(struct smtp_reply *r);
/* Free everything inside (not r). */
void smtp_reply_clear(struct smtp_reply *r);

/*
 * Add one line (without its line end; a trailing "\r" is ignored).
 * Returns 1 when more lines follow, 0 when the reply is complete, or -1
 * with *error_r (malloc'ed) when the line is not part of a valid reply.
 * Adding a line to a complete reply is a bug (panic).
 */
int smtp_reply_add_line(struct smtp_reply *r, const char *line, size_t len, char **error_r);

/*
 * Read one whole reply from s (the stream's timeout applies to each
 * read).  Returns SMTP_REPLY_OK or another smtp_reply_status; for
 * SMTP_REPLY_BAD, *error_r (may be NULL) says why.
 */
int smtp_reply_read(stream_t *s, struct smtp_reply *r, char **error_r);

/* The class digit: 2, 3, 4 or 5 (0 while incomplete). */
static inline int smtp_reply_class(const struct smtp_reply *r)
{
    return r->code / 100;
}

/*
 * EHLO keyword lookup: the first line (after the greeting line) whose
 * first word is keyword (case-insensitive).  Returns true and sets
 * *args_r (may be NULL) to the rest of that line after the keyword and
 * its spaces.
 */
bool smtp_reply_ehlo_has(const struct smtp_reply *r, const char *keyword, const char **args_r);

#endif

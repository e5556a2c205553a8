/*
 * smtp_cmd.h - the SMTP server's parsers for untrusted client input
 * (RFC 5321 4.1, RFC 2920, RFC 3030): one command line into a verb and
 * its argument, and the DATA / BDAT content decoder that removes
 * dot-stuffing, turns CRLF into LF and finds the end of the message.
 *
 * Nothing here does I/O or keeps global state, so smtpd, the unit tests
 * and the fuzz target share exactly the same code.  Every function takes
 * (pointer, length) and never reads past it; input need not be
 * NUL-terminated.  Errors carry the SMTP reply code, the enhanced status
 * code and a static reason, ready to be sent.
 */
#ifndef TERN_SMTP_CMD_H
#define TERN_SMTP_CMD_H

#include "sys.h"
#include "str.h"

enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_EHLO,
    SMTP_VERB_HELO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_HELP,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_AUTH,
    SMTP_VERB_ETRN,
    SMTP_VERB_COUNT
};

/* Longest BDAT chunk size accepted in the command (bytes). */
#define SMTP_BDAT_MAX UINT64_C(0x7fffffffffffffff)

struct smtp_cmd {
    enum smtp_verb verb;
    const char *name;   /* canonical upper-case verb ("MAIL"), or NULL if unknown */
    const char *arg;    /* argument: after "MAIL FROM:", "RCPT TO:", or the verb's SP */
    size_t arg_len;     /* 0 when there is none */
    bool ends_group;    /* RFC 2920: nothing may be pipelined after it */
    uint64_t bdat_size; /* BDAT: the chunk size */
    bool bdat_last;     /* BDAT: the LAST keyword was given */
    int reply;          /* on error: 500, 501, 502 */
    const char *dsn;    /* on error: "5.5.2", "5.5.4" */
    const char *error;  /* on error: static text, e.g. "Error: command not recognized" */
};

/*
 * Parse one command line, without its line end.  Returns 0, or -1 with
 * reply/dsn/error set (verb and name are still filled in when the verb
 * was recognised, for counting).  Rejected: empty lines, NUL and other
 * control characters except TAB (500 5.5.2), unknown verbs (502 5.5.2),
 * missing or extra arguments (501 5.5.4), a malformed BDAT size.
 */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);

/* The verb's upper-case name, for logging and counting ("unknown"). */
const char *smtp_verb_name(enum smtp_verb verb);

/* ---- message content -------------------------------------------------- */

enum smtp_data_mode {
    SMTP_DATA_DOT, /* DATA: dot-stuffed, ends with <CRLF>.<CRLF> */
    SMTP_DATA_RAW, /* BDAT: exact octets, only CRLF -> LF */
};

enum smtp_data_status {
    SMTP_DATA_MORE = 0,    /* all input consumed, the message goes on */
    SMTP_DATA_END = 1,     /* <CRLF>.<CRLF> seen (DOT mode) */
    SMTP_DATA_BARE_LF = -1 /* a bare LF, and bare LF is forbidden */
};

/*
 * Decoder state.  Only <CR><LF>.<CR><LF> ends a message: a "." line ended
 * by a bare LF, or preceded by a bare CR or a bare LF, is content (no SMTP
 * smuggling).
 * A bare CR is kept as a content byte.  A bare LF is a line end when
 * bare_lf_ok, else an error.
 */
struct smtp_data {
    enum smtp_data_mode mode;
    bool bare_lf_ok;
    bool bol;      /* at the beginning of a line */
    bool bol_crlf; /* ... of a line that follows a CRLF (or the start) */
    bool cr;       /* a CR was seen and its successor is not yet known */
    int dot;       /* DOT mode: 1 after "." at bol, 2 after ".\r" at bol */
    bool saw_bare_lf;
    bool saw_bare_cr;
};

void smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode, bool bare_lf_ok);
/*
 * Decode len wire bytes, appending the content (LF line ends, dots
 * removed) to out.  *used_r gets the bytes consumed: all of them for
 * SMTP_DATA_MORE, up to and including the final LF for SMTP_DATA_END,
 * up to and including the offending LF for SMTP_DATA_BARE_LF.
 */
enum smtp_data_status smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, str_t *out,
                                     size_t *used_r);
/* RAW mode, after the last chunk: emit a CR still pending. */
void smtp_data_finish(struct smtp_data *d, str_t *out);

#endif

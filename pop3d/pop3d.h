/*
 * pop3d.h - the POP3 server (RFC 1939, 2449, 2595, 5034) over Maildir.
 *
 *   pop3d.c               main() of pop3d: the session parent (no OpenSSL)
 *   pop3_mailbox.c        the mailbox snapshot: new/ -> cur/, UIDs, sizes, UPDATE
 *   pop3_session.c        the TRANSACTION state, as the mailbox owner
 *   login/pop3_login.c    main() of pop3d-login: the AUTHORIZATION state, as
 *                         mail_owner, with TLS
 *   common/pop3_cmd.c     command-line parsing and the LF -> CRLF, dot-stuffing
 *                         message converter (pure functions; unit-tested and fuzzed)
 *   common/pop3_common.c  settings, replies, CAPA: linked into both programs
 *
 * The process split is lib/login.c's; see pop3d(8).
 */
#ifndef TERN_POP3D_H
#define TERN_POP3D_H

#include "sys.h"
#include "login.h"
#include "str.h"
#include "stream.h"

#define POP3_VERB_MAX 8

/* ---- pop3_cmd.c ------------------------------------------------------- */

struct pop3_cmd {
    char verb[POP3_VERB_MAX + 1]; /* upper case */
    const char *args;             /* after the first space; "" when none */
};

/*
 * Split a command line (its CRLF or LF already removed or not) into verb
 * and arguments, in place (line is modified: the end of line is cut).
 * -1 when the line has NUL or other control bytes, or no proper verb.
 */
int pop3_cmd_parse(char *line, size_t len, struct pop3_cmd *c);
/* A message number 1..max ("1", no sign, no leading zero); -1 otherwise. */
int pop3_parse_num(const char *s, size_t max, size_t *n_r);
/* "N M": a message number and a count of lines (0..LONG_MAX). */
int pop3_parse_top(const char *s, size_t max, size_t *n_r, long *lines_r);

/* The converter from a stored message to POP3 wire form. */
struct pop3_conv {
    bool stuff;          /* dot-stuff lines starting with '.' */
    long max_body_lines; /* TOP: body lines to send; -1 for all */
    /* state */
    bool mid_line;     /* inside a line (not at its start) */
    bool prev_cr;      /* last byte was CR */
    size_t line_chars; /* non-CR bytes in the current line */
    bool in_body;
    long body_lines;
    bool done;          /* TOP limit reached: stop reading */
    uint64_t out_bytes; /* bytes produced, without stuffing dots */
};

void pop3_conv_init(struct pop3_conv *cv, bool stuff, long max_body_lines);
/* Convert n bytes (out may be NULL to count only); returns bytes consumed. */
size_t pop3_conv_run(struct pop3_conv *cv, const char *in, size_t n, str_t *out);
/* End the data: CRLF if the message did not end with a line end. */
void pop3_conv_finish(struct pop3_conv *cv, str_t *out);

/* ---- common/pop3_common.c ------------------------------------------- */

struct pop3_config {
    int timeout;     /* seconds */
    long line_limit; /* command line bytes */
    long command_limit;
    long error_limit;
    const char *plaintext; /* yes, no, loopback */
    bool wrapper;
    long login_delay;   /* seconds; 0: none */
    const char *expire; /* "" (not announced), "NEVER" or days */
};
extern struct pop3_config pop3_cfg;

/* pop3_cfg from main.cf. */
void pop3_config_load(void);
/* Read one command line; STREAM_* status; too-long lines are skipped and reported. */
int pop3_read_line(stream_t *s, str_t *line, size_t limit);
/* "+OK"/"-ERR" reply plus CRLF, flushed. */
void pop3_reply(stream_t *s, const char *fmt, ...) TERN_PRINTF(2, 3);
/* The capability list (RFC 2449) for the state the session is in. */
void pop3_capa(stream_t *s, bool authorization, bool stls, bool user_sasl);

/* ---- pop3_mailbox.c --------------------------------------------------- */

struct pop3_msg {
    char *name; /* file name in cur/ */
    uint32_t uid;
    uint64_t vsize; /* CRLF size */
    bool deleted;
    bool retrieved; /* by RETR (for pop3d_expire = 0) */
};

struct pop3_mbox {
    char *dir;
    int lock_fd;
    uint32_t validity;
    struct pop3_msg *msgs;
    size_t count;
};

enum { POP3_MBOX_OK = 0, POP3_MBOX_INUSE = -1, POP3_MBOX_TEMP = -2, POP3_MBOX_DELAY = -3 };
/*
 * Lock (one POP3 session per Maildir), check the login delay (the lock
 * file's mtime is the last login; login_delay 0: no check), move new/ to
 * cur/, take the snapshot, and stamp the login.
 */
int pop3_mbox_open(const char *dir, long login_delay, struct pop3_mbox *mb, char **error_r);
/* Open a message's file (following a rename by a concurrent flag change); fd or -1. */
int pop3_mbox_msg_open(struct pop3_mbox *mb, struct pop3_msg *m);
/* UPDATE: remove the deleted messages; the count not removed. */
size_t pop3_mbox_expunge(struct pop3_mbox *mb);
void pop3_mbox_close(struct pop3_mbox *mb);

/* ---- pop3_session.c --------------------------------------------------- */

void pop3_postlogin(stream_t *client, const struct login_user *user, const char *client_addr,
                    void *ctx);

#endif

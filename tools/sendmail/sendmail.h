/*
 * sendmail.h - the Sendmail-compatible command line: shared state of
 * sendmail's option parser, its submission path (through terndrop) and
 * its other modes (-bp, -bi, -bv, -bs, -q).
 */
#ifndef TERN_SENDMAIL_H
#define TERN_SENDMAIL_H

#include "sys.h"

#include <sysexits.h>

#include "maildrop.h"
#include "str.h"
#include "stream.h"

enum sendmail_mode {
    SM_DELIVER, /* -bm, the default: read a message from stdin */
    SM_QUEUE,   /* -bp, mailq */
    SM_ALIASES, /* -bi, -I, newaliases */
    SM_VERIFY,  /* -bv */
    SM_SMTP,    /* -bs */
    SM_FLUSH,   /* -q */
};

struct sendmail_opts {
    enum sendmail_mode mode;
    const char *config_dir; /* -C, else $MAIL_CONFIG, else the default */
    bool dot_ends;          /* false with -i / -oi */
    int verbose;
    struct maildrop_request req; /* sender, -t, -F, DSN, recipients */
    bool sender_given;
};

/* sendmail_submit.c: read stdin and queue it through terndrop; EX_* status. */
int sendmail_deliver(struct sendmail_opts *o);
/* Run terndrop and hand it req; content comes from a callback. */
typedef int (*sendmail_content_fn)(void *ctx, stream_t *to_drop);
int sendmail_drop(const struct sendmail_opts *o, const struct maildrop_request *req,
                  sendmail_content_fn content, void *ctx);
/* Path of a tern program (command_directory, then beside sendmail), or NULL. */
char *sendmail_program(const char *name);

/* sendmail_modes.c */
int sendmail_mailq(const struct sendmail_opts *o);
int sendmail_newaliases(const struct sendmail_opts *o);
int sendmail_verify(const struct sendmail_opts *o);
int sendmail_flush(const struct sendmail_opts *o);

/* sendmail_smtp.c: -bs */
int sendmail_smtp(struct sendmail_opts *o);

#endif

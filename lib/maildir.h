/*
 * maildir.h - Maildir delivery and listing (the cr.yp.to maildir format,
 * with Dovecot's ",S=<size>" in file names).
 *
 * DELIVERY
 *
 *     maildir_deliver_begin(path, &opts, &d, &err)   creates path/{tmp,new,cur}
 *                                                    (mode 0700) if missing and
 *                                                    opens tmp/UNIQUE
 *     maildir_write(d, data, len)                    any number of times
 *     maildir_deliver_commit(&d, &name, &err)        flush, fsync, rename to
 *                                                    new/UNIQUE,S=SIZE, fsync new/
 *
 * The message counts as delivered only when commit returns MAILDIR_OK:
 * its bytes and its directory entry in new/ are then on stable storage.
 * On any failure nothing is left in tmp/ or new/.  UNIQUE is
 * "SECONDS.M<usec>P<pid>Q<counter>.HOST", where '/', ':' and ',' in the
 * host name are written as \057, \072 and \054; the tmp/ file is created
 * O_EXCL and the rename into new/ never replaces, so a clash is retried
 * with the next counter rather than losing a message.
 *
 * Errors: MAILDIR_ETEMP for everything that may heal (ENOSPC, EDQUOT,
 * EIO, permissions, ...): the caller defers.  MAILDIR_ETOOBIG when the
 * message is over opts.size_limit (Postfix's mailbox_size_limit, which for
 * Maildir bounds each file) or the mailbox would exceed opts.quota: the
 * caller decides between bounce (5.2.2) and deferral (4.2.2).
 *
 * LISTING
 *
 * maildir_list() reads new/ and cur/ into entries sorted by name (which
 * sorts by delivery time), with each message's size (from ",S=" or
 * stat) and its flags (the "FLAGS" of a ":2,FLAGS" suffix), for the POP3
 * and IMAP servers.
 */
#ifndef TERN_MAILDIR_H
#define TERN_MAILDIR_H

#include "sys.h"

enum {
    MAILDIR_OK = 0,
    MAILDIR_ETEMP = -1,   /* try again later */
    MAILDIR_ETOOBIG = -2, /* over the size limit or quota */
};

struct maildir_opts {
    uint64_t size_limit;  /* largest message file, 0 = no limit */
    uint64_t quota;       /* largest total of new/ and cur/, 0 = no limit */
    const char *hostname; /* NULL: gethostname() */
};

typedef struct maildir_delivery maildir_delivery_t;

/* opts may be NULL.  Returns MAILDIR_OK or an error with error_r. */
int maildir_deliver_begin(const char *path, const struct maildir_opts *opts,
                          maildir_delivery_t **d_r, char **error_r);
/* Append message bytes; 0, or -1 after an error (reported by commit). */
int maildir_write(maildir_delivery_t *d, const void *data, size_t len);
/*
 * Finish the delivery.  name_r (may be NULL) gets the file name in new/
 * (caller frees).  The handle is freed and *dp set to NULL either way.
 */
int maildir_deliver_commit(maildir_delivery_t **dp, char **name_r, char **error_r);
/* Remove the tmp/ file and free the handle (NULL is fine). */
void maildir_deliver_abort(maildir_delivery_t **dp);
/* Bytes written so far. */
uint64_t maildir_delivery_size(const maildir_delivery_t *d);

/* Create path, path/tmp, path/new, path/cur (0700) where missing, durably. */
int maildir_create(const char *path, char **error_r);
/* Escape a host name for use in a unique name (caller frees). */
char *maildir_escape_host(const char *host);

struct maildir_entry {
    char *name;    /* file name within new/ or cur/ */
    bool in_new;   /* true: new/, false: cur/ */
    uint64_t size; /* bytes */
    char *flags;   /* from ":2,FLAGS"; "" when none */
};

/* List new/ and cur/; returns 0 or -1 with error_r. */
int maildir_list(const char *path, struct maildir_entry **entries_r, size_t *count_r,
                 char **error_r);
void maildir_list_free(struct maildir_entry **entries, size_t count);
/*
 * The ",S=" size in a file name (up to the ':' info part); -1 when the
 * name carries none.
 */
int maildir_name_size(const char *name, uint64_t *size_r);
/* The FLAGS of a ":2,FLAGS" info part, or NULL when there is none. */
const char *maildir_name_flags(const char *name);
/* Sum of the sizes of all messages in new/ and cur/. */
int maildir_usage(const char *path, uint64_t *bytes_r, char **error_r);

#endif

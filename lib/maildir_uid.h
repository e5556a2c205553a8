/*
 * maildir_uid.h - stable message identities in a Maildir, shared by the
 * POP3 server (UIDL) and the IMAP server (UID, UIDVALIDITY).
 *
 * A Maildir file name changes during its life (new/ -> cur/, flags in
 * the ":2,FLAGS" info part), but its base name (everything before the
 * first ':') never does.  IMAP needs small ascending numbers, so each
 * base name is given a number once and the mapping is kept in the file
 * "tern-uidlist" at the top of the Maildir, in the spirit of Dovecot's
 * dovecot-uidlist:
 *
 *     tern-uidlist 1 V<uidvalidity> N<next_uid>
 *     <uid> <vsize> <base name>
 *     ...
 *
 * uidvalidity is the time the list was created; next_uid is one more
 * than the largest UID ever given out (UIDs are never reused within one
 * uidvalidity); lines are in ascending UID order.  vsize is the
 * message's size with CRLF line ends (what POP3 LIST and IMAP
 * RFC822.SIZE report), 0 when not yet known.  A list that cannot be
 * parsed is replaced by a new one with a new uidvalidity (logged), which
 * tells IMAP clients that every UID changed.
 *
 * Concurrency: maildir_uid_open() takes an exclusive flock(2) on
 * "tern-uidlist.lock" and holds it until commit or abort, so pop3d and
 * imapd sessions on one Maildir take turns (the lock is held only while
 * the caller lists the Maildir, not for the whole session).  Delivery
 * never touches the list: messages it adds get their UIDs at the next
 * open.  The list is rewritten as a whole (tern-uidlist.tmp, fsync,
 * rename), so a reader never sees half of it.
 *
 * The POP3 UIDL of a message is "%08x%08x" of uid and uidvalidity: what
 * Dovecot's default pop3_uidl_format (%08Xu%08Xv) produces, lower-case
 * hex digits and all (bench/uidl_migration.py checks it against the real
 * Dovecot), so it survives server restarts, renames into cur/, flag
 * changes and a move from Dovecot.
 *
 * Moving from Dovecot: when a Maildir has no tern-uidlist yet but has
 * Dovecot's dovecot-uidlist (version 3: "3 V<uidvalidity> N<next> ..."
 * then "<uid> [W<vsize> ...] :<base name>"), its UIDs, UIDVALIDITY and
 * sizes are taken over, so POP3 clients do not download everything again
 * and IMAP clients keep their caches.  dovecot-uidlist is only read.
 */
#ifndef TERN_MAILDIR_UID_H
#define TERN_MAILDIR_UID_H

#include "sys.h"
#include "str.h"

#define MAILDIR_UID_FILE "tern-uidlist"
#define MAILDIR_UID_LOCK "tern-uidlist.lock"
#define MAILDIR_UID_DOVECOT "dovecot-uidlist"
#define MAILDIR_UIDL_LEN 16 /* characters of a UIDL, without the NUL */

typedef struct maildir_uidlist maildir_uidlist_t;

/* Lock and read the list of maildir (a missing list starts empty). 0 or -1. */
int maildir_uid_open(const char *maildir, maildir_uidlist_t **l_r, char **error_r);
/* An empty, unlocked list not tied to a directory (tests, fuzzing). */
maildir_uidlist_t *maildir_uid_new(uint32_t uidvalidity);

uint32_t maildir_uid_validity(const maildir_uidlist_t *l);
uint32_t maildir_uid_next(const maildir_uidlist_t *l);
size_t maildir_uid_count(const maildir_uidlist_t *l);

/*
 * The UID of base (a name without ':' info; see maildir_uid_base_len),
 * given a new one when it has none.  The entry is marked present; its
 * vsize (0: unknown) goes to *vsize_r when not NULL.  0 when base is not
 * a valid base name (empty, or has '/', ':', white space or controls).
 */
uint32_t maildir_uid_assign(maildir_uidlist_t *l, const char *base, uint64_t *vsize_r);
/* The UID of base, or 0 when it has none (does not mark it present). */
uint32_t maildir_uid_lookup(const maildir_uidlist_t *l, const char *base);
/* Record the CRLF size of uid (ignored when uid is unknown). */
void maildir_uid_set_vsize(maildir_uidlist_t *l, uint32_t uid, uint64_t vsize);

/*
 * Write the list if it changed and release the lock; the handle is freed
 * either way.  drop_missing: forget entries that were not assigned since
 * open (their messages are gone).  0 or -1.
 */
int maildir_uid_commit(maildir_uidlist_t **lp, bool drop_missing, char **error_r);
/* Release the lock and free without writing (NULL is fine). */
void maildir_uid_abort(maildir_uidlist_t **lp);

/* Text form, as in the file (for tests and fuzzing). */
int maildir_uid_parse(maildir_uidlist_t *l, const char *text, size_t len, char **error_r);
/* dovecot-uidlist's text into an empty list (for tests and fuzzing). */
int maildir_uid_parse_dovecot(maildir_uidlist_t *l, const char *text, size_t len, char **error_r);
void maildir_uid_format(const maildir_uidlist_t *l, bool drop_missing, str_t *out);

/* Length of the base name of a Maildir file name (up to the first ':'). */
size_t maildir_uid_base_len(const char *name);
/* The POP3 UIDL of uid: MAILDIR_UIDL_LEN characters and a NUL into buf. */
void maildir_uid_uidl(uint32_t uid, uint32_t uidvalidity, char buf[MAILDIR_UIDL_LEN + 1]);

#endif

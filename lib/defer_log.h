/*
 * defer_log.h - why a queued message is still waiting: the per-message
 * deferral log in QUEUE_DIRECTORY/defer/ID, written by qmgr when it
 * moves a message to deferred/ and read by qmgr (for the reasons in an
 * expiry bounce or a delay notice) and by the queue listing (mailq).
 *
 * The file is a sequence of attribute records (attr.h wire format), one
 * per recipient still pending:
 *      rcpt=ADDR
 *      orig_rcpt=ADDR   (may be empty)
 *      dsn=4.X.Y        (enhanced status code of the last attempt)
 *      reason=TEXT      (why the last attempt failed)
 *      time=SECONDS     (when, since the epoch)
 * optionally preceded by one record "warned=SECONDS" saying when a delay
 * notice was sent.  It is replaced as a whole (written to a temporary
 * name, fsynced, renamed), so a reader sees an old or a new log, never a
 * mixture.  It is informational: losing it loses reasons, never mail.
 */
#ifndef TERN_DEFER_LOG_H
#define TERN_DEFER_LOG_H

#include "sys.h"

#include <time.h>

#define DEFER_LOG_DIR "defer"

struct defer_entry {
    char *rcpt;
    char *orig_rcpt;
    char *dsn;
    char *reason;
    time_t when;
};

struct defer_log {
    struct defer_entry *v;
    size_t n;
    time_t warned; /* when a delay notice went out; 0 = never */
};

/* Add (or replace, by rcpt) an entry; copies the strings. */
void defer_log_add(struct defer_log *log, const char *rcpt, const char *orig_rcpt, const char *dsn,
                   const char *reason, time_t when);
/* The entry for rcpt, or NULL. */
const struct defer_entry *defer_log_find(const struct defer_log *log, const char *rcpt);
void defer_log_clear(struct defer_log *log);

/* "QUEUE_DIR/defer/ID" (caller frees). */
char *defer_log_path(const char *queue_dir, const char *id);
/* Replace the log for id: 0, or -1 with *error_r (malloc'ed). */
int defer_log_write(const char *queue_dir, const char *id, const struct defer_log *log,
                    char **error_r);
/*
 * Read the log for id into *log (cleared first): 1 read, 0 no log, -1
 * unreadable or malformed with *error_r (malloc'ed).
 */
int defer_log_read(const char *queue_dir, const char *id, struct defer_log *log, char **error_r);
/* Remove the log for id; a missing log is fine.  0 or -1 (errno). */
int defer_log_remove(const char *queue_dir, const char *id);

#endif

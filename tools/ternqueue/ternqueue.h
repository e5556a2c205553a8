/*
 * ternqueue.h - the queue tool (postqueue(1) + postsuper(1) of tern),
 * shared between its files: main.c (options, configuration), scan.c
 * (queue directories and the messages in them), list.c (-p / -j),
 * json.c (JSON string output) and admin.c (delete, hold, release,
 * requeue, deliver one, flush).
 *
 * The tool runs with its working directory at queue_directory, so every
 * queue path it uses is relative ("deferred/ID"), as in qmgr.
 */
#ifndef TERNQUEUE_H
#define TERNQUEUE_H

#include "sys.h"

#include <sys/time.h>

#include "queue_id.h"

/* Queue directories the tool knows, in listing order. */
#define TQ_MAILDROP "maildrop"
#define TQ_INCOMING "incoming"
#define TQ_ACTIVE "active"
#define TQ_DEFERRED "deferred"
#define TQ_HOLD "hold"

/* A sorted list of queue IDs found in one directory. */
struct tq_ids {
    char **v;
    size_t n;
};

/* One pending recipient as the listing shows it. */
struct tq_rcpt {
    char *address;
    char *reason; /* last deferral reason, NULL if none known */
};

/* One message as the listing shows it. */
struct tq_msg {
    const char *queue;
    const char *id;
    struct timeval arrival;
    uint64_t size;
    char *sender;
    struct tq_rcpt *rcpts;
    size_t rcpt_count;
};

/* scan.c */
/*
 * Read the queue IDs in dir (sorted).  0; 1 when dir does not exist
 * (an empty list); -1 with *error_r (malloc'ed) when it cannot be read.
 */
int tq_ids_read(const char *dir, struct tq_ids *ids, char **error_r);
void tq_ids_free(struct tq_ids *ids);
/*
 * Load message id of queue for listing.  0; 1 to skip it silently (gone,
 * still being written); -1 with *error_r (malloc'ed) when unreadable.
 */
int tq_msg_load(const char *queue, const char *id, struct tq_msg *m, char **error_r);
void tq_msg_free(struct tq_msg *m);
/* The queue (of the NULL-terminated list) holding id, or NULL. */
const char *tq_find(const char *id, const char *const *queues);

/* list.c */
/* Print the queue Postfix-mailq style (json false) or as JSON lines. */
int tq_list(bool json);

/* json.c */
/* Write s as a JSON string (quotes included); bad UTF-8 becomes U+FFFD. */
void tq_json_string(FILE *fp, const char *s);

/* admin.c */
enum tq_op { TQ_OP_DELETE = 'd', TQ_OP_HOLD = 'h', TQ_OP_RELEASE = 'H', TQ_OP_REQUEUE = 'r' };

struct tq_action {
    enum tq_op op;
    const char *id; /* a queue ID, "ALL", or "-" (IDs on stdin) */
};

/* Refuse (exit 1) unless the caller is root, mail_owner or owns the queue. */
void tq_require_admin(const char *what);
/*
 * Run actions in order; queues (NULL-terminated, may be empty) limits
 * where IDs are looked for.  Returns the exit status.
 */
int tq_admin(const struct tq_action *acts, size_t n, char **queues);
/* -i: move id from deferred/ to incoming/ and wake qmgr.  Exit status. */
int tq_deliver_one(const char *id);
/* -f: ask qmgr to flush the deferred queue.  Exit status. */
int tq_flush(void);
/* Write one request byte to public/qmgr: 0, or -1 with *error_r. */
int tq_wake_qmgr(char req, char **error_r);
/* printf-safe rendering of untrusted text (control bytes become '?'). */
void tq_print_safe(FILE *fp, const char *s);

#endif

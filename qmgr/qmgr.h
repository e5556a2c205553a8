/*
 * qmgr.h - the queue manager's modules: queue scans (qmgr_queue.c), one
 * message's delivery (qmgr_message.c), talking to delivery agents
 * (qmgr_agent.c) and delivery status notices (qmgr_notice.c).
 *
 * The process works in queue_directory (it chdirs there at start), so
 * every queue path is relative: "incoming", "active/ID", "private/local".
 */
#ifndef TERN_QMGR_H
#define TERN_QMGR_H

#include "sys.h"

#include <time.h>

#include "deliver.h"
#include "dsn.h"
#include "qfile.h"

#define QMGR_DIR_INCOMING "incoming"
#define QMGR_DIR_ACTIVE "active"
#define QMGR_DIR_DEFERRED "deferred"
#define QMGR_DIR_CORRUPT "corrupt"
#define QMGR_RECOVER_AGE 600 /* seconds before an incomplete file is ours */

/* ---- qmgr_queue.c ---- */
void qmgr_queue_init(void);
/* Move complete files from incoming/ to active/ and deliver them. */
void qmgr_scan_incoming(void);
/* Deliver what is in active/ (at start: left there by a crash). */
void qmgr_scan_active(void);
/* Move due (all: every) deferred files to active/ and deliver them. */
void qmgr_scan_deferred(bool all);
/* Scan deferred/ if queue_run_delay has passed since the last scan. */
void qmgr_scan_deferred_when_due(void);

/* ---- qmgr_message.c ---- */
/* Deliver the message active/ID, then remove, defer or bounce it. */
void qmgr_message_run(const char *id);

/* One recipient's outcome, as collected while a message is delivered. */
struct qmgr_outcome {
    size_t index;
    int status; /* DELIVER_OK / _TEMP / _PERM */
    char *dsn;
    char *reason;
    char *relay;
};

/* ---- qmgr_agent.c ---- */
/*
 * Send one request to private/TRANSPORT and fill req->rcpts[i] results.
 * Recipients without a result (connection trouble) get status 4 and the
 * reason.
 */
void qmgr_agent_deliver(const char *transport, struct deliver_request *req);

/* ---- qmgr_notice.c ---- */
/*
 * Return a delivery status notice about rcpts of the message qf (queue
 * ID id) to its sender, through cleanup.  Notices about mail from <> go
 * to 2bounce_notice_recipient (failures only), and failures of those are
 * dropped, so notices never loop.  0 when queued or deliberately not
 * sent, -1 (logged) when cleanup did not take it.
 */
int qmgr_notice_send(qfile_t *qf, const char *id, const struct dsn_rcpt *rcpts, size_t n,
                     time_t retry_until);

#endif

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
/* Hand complete files in incoming/ to the scheduler (qmgr_sched_ready). */
void qmgr_scan_incoming(void);
/* Hand what is in active/ (at start: left there by a crash) to it. */
void qmgr_scan_active(void);
/* Hand due (all: every) deferred files to it. */
void qmgr_scan_deferred(bool all);
/* Scan deferred/ if queue_run_delay has passed since the last scan. */
void qmgr_scan_deferred_when_due(void);

/* ---- qmgr_message.c ---- */
struct qmgr_msg;

/*
 * One delivery request of one message: the recipients of that message
 * that go to one (transport, next hop), at most
 * TRANSPORT_destination_recipient_limit of them.
 */
struct qmgr_job {
    struct qmgr_msg *msg;
    char *transport, *nexthop;
    struct deliver_request req;
    struct qmgr_job *next; /* in its destination's queue */
};

/*
 * Open active/ID, resolve its pending recipients and give its requests
 * to the scheduler (qmgr_sched_add); a message with nothing to send is
 * finished at once.
 */
void qmgr_message_start(const char *id);
/*
 * A request is over (every recipient has a result): record them, and
 * when it was the message's last request remove, defer or bounce the
 * message.  Frees job.
 */
void qmgr_message_job_done(struct qmgr_job *job);
/* Messages started and not finished. */
size_t qmgr_message_count(void);

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
 * One connection to a delivery agent (private/TRANSPORT).  A request is
 * sent whole (requests are small: the socket buffer takes them without
 * waiting); the results are read without blocking, as poll() reports
 * input, and parsed once all of them have arrived.
 */
typedef struct qmgr_conn qmgr_conn_t;

/* Connect to private/TRANSPORT; NULL with *error_r (free it) on failure. */
qmgr_conn_t *qmgr_agent_connect(const char *transport, char **error_r);
void qmgr_agent_close(qmgr_conn_t **cp);
int qmgr_agent_fd(const qmgr_conn_t *c);
/* An idle connection the agent has not closed (no EOF or input pending). */
bool qmgr_agent_usable(const qmgr_conn_t *c);
/* Send req; 0, or -1 with *error_r. */
int qmgr_agent_send(qmgr_conn_t *c, const struct deliver_request *req, char **error_r);
/*
 * Read what the agent sent (call when poll() says the fd is readable).
 * 1: every result is in req; 0: not yet; -1: the connection broke or
 * the results were malformed (*error_r says why; the results that did
 * arrive are in req, the others have none).
 */
int qmgr_agent_input(qmgr_conn_t *c, struct deliver_request *req, char **error_r);
/* true when the last request's reply was clean (the connection can be reused). */
bool qmgr_agent_reusable(const qmgr_conn_t *c);
/* Bytes of results received for the current request. */
size_t qmgr_agent_received(const qmgr_conn_t *c);
/* Every recipient still without a result gets status 4 and why. */
void qmgr_agent_defer_rest(struct deliver_request *req, const char *why);
/* A transport name is a master.cf service name: no path tricks. */
bool qmgr_agent_transport_ok(const char *transport);

/* ---- qmgr_sched.c ---- */
/*
 * The scheduler: queue files waiting to be started, requests waiting
 * per destination (transport, next hop), agent connections busy or
 * idle per transport, and the poll() loop that drives them.
 */
/* Before the jail: read master.cf for the transports' process limits. */
void qmgr_sched_init(void);
/* Start the file dir/ID when there is room (dir "active": already there). */
void qmgr_sched_ready(const char *id, const char *dir);
/* Queue one request for its destination. */
void qmgr_sched_add(struct qmgr_job *job);
/* TRANSPORT_destination_recipient_limit (else the default_ one). */
size_t qmgr_transport_rcpt_limit(const char *transport);
/* A wakeup request: rescan incoming/, and with flush all of deferred/. */
void qmgr_sched_request(bool flush);
/*
 * Deliver until nothing is waiting or in flight, serving wakeup requests
 * meanwhile.  Called again from inside (a request it served), it returns
 * at once: the running loop takes care of what was asked.
 */
void qmgr_sched_run(void);
/* Housekeeping between runs: close agent connections idle too long. */
void qmgr_sched_tick(void);

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

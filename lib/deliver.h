/*
 * deliver.h - the delivery request protocol between qmgr and delivery
 * agents (local, virtual, smtp, ...): QUEUE_DIRECTORY/private/TRANSPORT.
 *
 * One request per connection (qmgr may keep an agent connection for the
 * next request; an agent serves requests until EOF).  Wire format is
 * attribute records (attr.h):
 *
 * qmgr -> agent, the request record:
 *      request=deliver
 *      queue_id=ID
 *      queue_file=active/ID     (relative to queue_directory; the agent
 *                                opens it read-only and reads the content)
 *      sender=ADDR              (empty: null sender)
 *      nexthop=TEXT             (from the resolver: domain or [host]:port)
 *      envid=, ret=             (DSN, may be empty)
 *      rcpt_count=N
 * then N recipient records:
 *      index=I        (the recipient's index in the queue file)
 *      rcpt=ADDR      (address to deliver to, after canonicalisation)
 *      orig_rcpt=ADDR (as the client gave it), orcpt=, notify=
 *
 * agent -> qmgr, N result records, in request order:
 *      index=I  status=0|4|5  dsn=X.Y.Z  reason=TEXT
 *      [relay=TEXT]   where the mail went, for logs ("mx.example.com[192.0.2.1]:25")
 *      [site_fail=1]  only with status 4: the next hop as a whole failed,
 *                     not this recipient (no server of it could be
 *                     reached or completed the handshake: DNS could not
 *                     find out, connection refused or timed out, no
 *                     greeting, 421/4xx greeting or EHLO); qmgr then
 *                     suspends delivery to that destination for a while
 *                     (its dead-destination cache) instead of trying
 *                     its other mail.  Absent: a per-recipient result.
 *   status 0: delivered (for local: the Maildir file is fsynced and in
 *   new/); 4: try again later; 5: bounce.  qmgr marks recipients in the
 *   queue file from these; a connection that breaks before a result
 *   leaves that recipient pending (it will be retried: at least once).
 */
#ifndef TERN_DELIVER_H
#define TERN_DELIVER_H

#include "sys.h"
#include "stream.h"

#define DELIVER_OK 0
#define DELIVER_TEMP 4
#define DELIVER_PERM 5

struct deliver_rcpt {
    size_t index;
    char *rcpt;
    char *orig_rcpt;
    char *orcpt;
    char *notify;
    /* Filled by the agent: */
    int status;
    char *dsn;
    char *reason;
    char *relay;    /* optional: where it went, for qmgr's log ("host[addr]:port") */
    bool site_fail; /* status 4 only: the destination failed, not the recipient */
};

struct deliver_request {
    char *queue_id;
    char *queue_file;
    char *sender;
    char *nexthop;
    char *envid;
    char *ret;
    struct deliver_rcpt *rcpts;
    size_t nrcpts;
};

/* Free everything inside (not req itself). */
void deliver_request_clear(struct deliver_request *req);

/* qmgr side: send req, then read one result per recipient into it. */
int deliver_request_send(stream_t *s, const struct deliver_request *req, char **error_r);
int deliver_results_read(stream_t *s, struct deliver_request *req, char **error_r);

/* agent side: read one request (ATTR_EOF style: 1 = got one, 0 = EOF,
 * -1 = malformed), and send the results it filled in. */
int deliver_request_read(stream_t *s, struct deliver_request *req, char **error_r);
int deliver_results_send(stream_t *s, const struct deliver_request *req);

/*
 * The agent's side of a connection from qmgr: read requests until EOF,
 * call handle() for each (it fills in every recipient's result), send the
 * results.  Returns when qmgr closes or on a protocol or I/O error (logged).
 */
void deliver_serve(stream_t *client, void (*handle)(struct deliver_request *req));

/* Say where a recipient's mail went (copied; NULL clears). */
void deliver_rcpt_relay(struct deliver_rcpt *r, const char *relay);

/* Set a recipient's result (copies dsn and reason; clears site_fail). */
void deliver_rcpt_result(struct deliver_rcpt *r, int status, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);

#endif

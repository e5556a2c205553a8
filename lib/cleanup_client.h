/*
 * cleanup_client.h - the client side of the cleanup protocol
 * (cleanup_proto.h), used by smtpd, pickup and qmgr (bounces) to hand a
 * message to the cleanup service.
 *
 *     struct cleanup_rcpt rcpts[] = {{.address = "bob@example.org"}};
 *     struct cleanup_envelope env = {
 *         .origin = "smtpd", .sender = "alice@example.com",
 *         .protocol = "ESMTP", .client_name = "mx.example.com",
 *         .client_addr = "192.0.2.1", .helo_name = "mx.example.com",
 *         .rcpts = rcpts, .rcpt_count = 1,
 *     };
 *     char *err;
 *     cleanup_t *h = cleanup_open(&env, &err);     NULL: 451 4.3.0, err says why
 *     cleanup_write(h, data, len);                 any number of times
 *     struct cleanup_result res;
 *     cleanup_finish(&h, &res);                    res.status 0/4/5
 *
 * Promises:
 *   - cleanup_open connects to QUEUE_DIRECTORY/private/cleanup (or to
 *     env->service_path when set) with a deadline on every operation and
 *     sends the envelope and the recipient records.
 *   - cleanup_write buffers content and sends it in chunk records of at
 *     most CLEANUP_CHUNK_MAX bytes.  Errors are sticky and reported by
 *     cleanup_finish, so a caller may ignore its result (it is -1 once the
 *     connection has failed, so a caller may stop sending early).
 *   - cleanup_finish sends the final "chunk=0", reads the reply and fills
 *     *res.  It always fills *res: a broken connection, a timeout or a
 *     malformed reply is status 4 ("4.3.0"), never 0.  status 0 means the
 *     queue file is on stable storage.  The handle is freed.
 *   - cleanup_abort closes the connection without "chunk=0": cleanup then
 *     queues nothing.  NULL is fine.
 */
#ifndef TERN_CLEANUP_CLIENT_H
#define TERN_CLEANUP_CLIENT_H

#include "sys.h"
#include "cleanup_proto.h"
#include "queue_id.h"

typedef struct cleanup_client cleanup_t;

struct cleanup_rcpt {
    const char *address; /* required, not empty */
    const char *orcpt;   /* DSN ORCPT "TYPE;ADDR", may be NULL */
    const char *notify;  /* "NEVER" or "SUCCESS,FAILURE,DELAY", may be NULL */
};

struct cleanup_envelope {
    const char *origin;      /* "smtpd", "pickup" or "bounce" (required) */
    const char *sender;      /* "" or NULL: the null sender <> */
    const char *client_name; /* each of these may be NULL (not sent) */
    const char *client_addr;
    const char *client_port;
    const char *helo_name;
    const char *protocol; /* "ESMTP", "LOCAL", ... */
    const char *sasl_method;
    const char *sasl_username;
    const char *tls_info;
    const char *submit_uid; /* pickup: the submitting user's uid ("1000") */
    const char *envid;      /* DSN ENVID (xtext-decoded) */
    const char *ret;        /* "FULL" / "HDRS" */
    const char *body;       /* "7BIT" / "8BITMIME" / "BINARYMIME" */
    bool smtputf8;
    bool local_submission;   /* add Message-ID/Date/From when missing */
    bool extract_recipients; /* sendmail -t */
    const struct cleanup_rcpt *rcpts;
    size_t rcpt_count;
    /* Connection: NULL = cfg_str("queue_directory") + "/private/cleanup". */
    const char *service_path;
    int timeout; /* seconds per operation; 0 = 300 */
};

struct cleanup_result {
    int status;                   /* CLEANUP_STAT_OK / _TEMP / _PERM */
    char queue_id[QUEUE_ID_SIZE]; /* "" unless status 0 */
    char dsn[16];                 /* "2.0.0", "4.3.0", "5.3.4", ... */
    char reason[512];             /* printable text, may be "" */
};

/* Connect and send the envelope; NULL with a malloc'ed *error_r. */
cleanup_t *cleanup_open(const struct cleanup_envelope *env, char **error_r);
/* Queue content bytes ("\n" line ends); 0, or -1 once the link failed. */
int cleanup_write(cleanup_t *h, const void *data, size_t len);
/* Total content bytes given to cleanup_write so far. */
uint64_t cleanup_size(const cleanup_t *h);
/* End the content, read the reply into *res, free the handle. */
void cleanup_finish(cleanup_t **hp, struct cleanup_result *res);
/* Close without ending the content: nothing is queued.  Frees *hp. */
void cleanup_abort(cleanup_t **hp);

#endif

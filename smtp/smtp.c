/*
 * smtp.c - the SMTP client delivery agent: reads delivery requests from
 * qmgr (lib/deliver.h) on private/smtp, delivers each message to its
 * next hop over SMTP and answers one result per recipient.
 *
 * master.cf: "smtp unix - - n - - smtp"; it runs as mail_owner and only
 * reads the queue file.  For each request: find the next hop's addresses
 * (smtp_dest.c), then for each address in turn (at most
 * smtp_mx_session_limit sessions) open a session, or reuse the cached one
 * for the same next hop, and run one transaction for the recipients that
 * have no final result yet.  A 4xx leaves a recipient open for the next
 * address; what is still open at the end defers with the last reason.
 * When no server of the next hop completed the handshake (DNS could not
 * find out, every connection refused or timed out, no or a 4xx
 * greeting), those deferrals carry site_fail (deliver.h): qmgr's
 * dead-destination cache then holds the destination's other mail.
 */
#include "smtp.h"

#include "config.h"
#include "dns.h"
#include "log.h"
#include "mem.h"
#include "server.h"

#define SMTP_REASON_MAX 3000

void smtp_fail_init(struct smtp_fail *f)
{
    f->status = 0;
    f->dsn[0] = '\0';
    f->why = str_new(256);
}

void smtp_fail_reset(struct smtp_fail *f)
{
    f->status = 0;
    f->dsn[0] = '\0';
    str_reset(f->why);
}

void smtp_fail_free(struct smtp_fail *f)
{
    str_free(&f->why);
}

void smtp_fail_set(struct smtp_fail *f, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    f->status = status;
    str_lcpy(f->dsn, dsn, sizeof(f->dsn));
    str_reset(f->why);
    va_start(ap, fmt);
    str_vappendf(f->why, fmt, ap);
    va_end(ap);
}

/* Every recipient without a final result gets f. */
static void fail_open(struct smtp_msg *msg, const struct smtp_fail *f)
{
    for (size_t i = 0; i < msg->req->nrcpts; i++)
        if (!msg->done[i])
            deliver_rcpt_result(&msg->req->rcpts[i], f->status, f->dsn, "%s", str_c(f->why));
}

static bool all_done(const struct smtp_msg *msg)
{
    for (size_t i = 0; i < msg->req->nrcpts; i++)
        if (!msg->done[i])
            return false;
    return true;
}

/* Whether the message needs SMTPUTF8: asked for, or non-ASCII addresses. */
static bool needs_smtputf8(const struct smtp_msg *msg)
{
    const char *flag = qfile_attr(msg->qf, "smtputf8");
    if (flag != NULL && strcmp(flag, "1") == 0)
        return true;
    for (const char *p = msg->req->sender; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            return true;
    for (size_t i = 0; i < msg->req->nrcpts; i++)
        for (const char *p = msg->req->rcpts[i].rcpt; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                return true;
    return false;
}

/*
 * No server of the next hop completed a handshake: what is still open
 * failed because of the site, not the recipient (deliver.h site_fail),
 * so qmgr suspends the destination instead of trying its other mail.
 */
static void mark_site_fail(struct smtp_msg *msg)
{
    for (size_t i = 0; i < msg->req->nrcpts; i++)
        if (!msg->done[i] && msg->req->rcpts[i].dsn != NULL &&
            msg->req->rcpts[i].status == DELIVER_TEMP)
            msg->req->rcpts[i].site_fail = true;
}

/* Try the destination's addresses until every recipient has a final result. */
static void smtp_deliver(struct smtp_msg *msg)
{
    struct smtp_dest dest;
    struct smtp_fail f;
    smtp_fail_init(&f);
    long long session_limit = cfg_int("smtp_mx_session_limit");
    long long sessions = 0;
    bool talked = false; /* some server completed the handshake */
    struct smtp_session *ss = smtp_cache_get(msg->req->nexthop);
    if (ss != NULL && smtp_trans_run(ss, msg) != SMTP_TRANS_STALE) {
        sessions++; /* a stale connection took nothing: connect afresh */
        talked = true;
    }
    smtp_cache_put(&ss);
    if (!all_done(msg) && smtp_dest_lookup(msg->req->nexthop, &dest, &f) < 0)
        fail_open(msg, &f);
    else if (!all_done(msg)) {
        for (size_t i = 0; i < dest.n && !all_done(msg); i++) {
            if (session_limit > 0 && sessions >= session_limit)
                break;
            if (smtp_session_open(&dest.v[i], msg->req->nexthop, &ss, &f) < 0) {
                fail_open(msg, &f);
                continue;
            }
            sessions++;
            talked = true;
            smtp_trans_run(ss, msg);
            smtp_cache_put(&ss);
        }
        smtp_dest_free(&dest);
    }
    if (!talked)
        mark_site_fail(msg);
    smtp_fail_free(&f);
}

/*
 * Keep every reason within what the delivery protocol carries (a value
 * of at most 4096 bytes): a server's reply is bounded, but the words
 * around it are not counted there.
 */
static void reasons_bound(struct deliver_request *req)
{
    for (size_t i = 0; i < req->nrcpts; i++) {
        char *r = req->rcpts[i].reason;
        if (r != NULL && strlen(r) > SMTP_REASON_MAX)
            memcpy(r + SMTP_REASON_MAX - 3, "...", 4);
    }
}

/* Every recipient gets the same temporary failure. */
static void fail_all(struct deliver_request *req, const char *fmt, const char *why)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        deliver_rcpt_result(&req->rcpts[i], DELIVER_TEMP, "4.3.0", fmt, why);
}

static void smtp_request(struct deliver_request *req)
{
    struct smtp_msg msg = {.req = req};
    char *path = xasprintf("%s/%s", cfg_str("queue_directory"), req->queue_file);
    char *err = NULL;
    if (qfile_open(path, 0, &msg.qf, &err) != 0) {
        msg_warn("%s: %s", req->queue_id, err);
        fail_all(req, "cannot open queue file: %s", err);
    } else if (smtp_body_scan(&msg, &err) < 0) {
        msg_warn("%s: %s", req->queue_id, err);
        fail_all(req, "cannot read queue file: %s", err);
    } else {
        msg.smtputf8 = needs_smtputf8(&msg);
        msg.done = xcalloc(req->nrcpts, sizeof(bool));
        smtp_deliver(&msg);
        /* A recipient that never got a result (no address tried) defers. */
        for (size_t i = 0; i < req->nrcpts; i++)
            if (req->rcpts[i].dsn == NULL) {
                deliver_rcpt_result(&req->rcpts[i], DELIVER_TEMP, "4.4.1",
                                    "delivery temporarily suspended: no server reached");
                req->rcpts[i].site_fail = true;
            }
    }
    free(msg.done);
    str_free(&msg.content);
    free(err);
    free(path);
    qfile_close(&msg.qf);
}

/* One request from qmgr: deliver, then keep the reasons within the protocol's bounds. */
static void smtp_handle(struct deliver_request *req)
{
    smtp_request(req);
    reasons_bound(req);
}

static void smtp_service(stream_t *client, const char *service_name, void *ctx)
{
    (void)service_name;
    (void)ctx;
    deliver_serve(client, smtp_handle);
}

/* Close a cached connection that has been idle too long. */
static void smtp_wakeup(const char *service_name, void *ctx)
{
    (void)service_name;
    (void)ctx;
    smtp_cache_expire(false);
}

static void smtp_pre_jail(const char *service_name, void *ctx)
{
    (void)service_name;
    (void)ctx;
    smtp_tls_init();
}

int main(int argc, char **argv)
{
    static const struct server_settings s = {
        .name = "smtp",
        .mode = SERVER_SINGLE,
        .service = smtp_service,
        .pre_jail_init = smtp_pre_jail,
        .wakeup = smtp_wakeup,
        .wakeup_interval = 1,
    };
    return server_main(argc, argv, &s);
}

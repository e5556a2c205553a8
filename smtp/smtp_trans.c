/*
 * smtp_trans.c - one mail transaction in an open session: MAIL FROM,
 * RCPT TO for every recipient still open, DATA, the content, and the
 * replies mapped onto recipients.
 *
 * With PIPELINING (RFC 2920) MAIL, all RCPTs and DATA go out in one
 * write and the replies are read back in order; without it each command
 * waits for its reply.  What the server must offer is checked first:
 * SMTPUTF8 for a message that needs it (else 5.6.7), room for the message
 * under its SIZE (else 5.3.4), 8BITMIME for 8-bit content (else the body
 * is converted to quoted-printable when smtp_body.c can, or 5.6.3).
 * DSN parameters (RFC 3461) are passed on when the server offers DSN.
 *
 * When the server offers CHUNKING (RFC 3030) the content goes as one
 * "BDAT <size> LAST" chunk instead of DATA; with PIPELINING a message
 * of up to 1 MiB follows the RCPTs in the same write, so a transaction
 * costs one round trip (a larger one waits for an accepted RCPT).  A
 * message that needs quoted-printable conversion uses DATA (its
 * converted size is not known up front).  BINARYMIME is never needed:
 * queued content is text lines.
 *
 * A reused connection (smtp_cache_get) sends its RSET pipelined ahead of
 * MAIL; if the connection turns out dead at that RSET's reply, the
 * server took nothing and the caller connects afresh.
 */
#include "smtp.h"

#include "addr.h"
#include "config.h"
#include "log.h"
#include "mem.h"

struct trans {
    struct smtp_session *ss;
    struct smtp_msg *msg;
    bool pipelining;
    bool bdat;
    bool to_qp;
    bool mail_ok;
    bool data_sent;
    size_t *sent; /* recipients a RCPT TO went out for */
    size_t nsent;
    bool *accepted;
    size_t naccepted;
    struct smtp_fail fail;
    str_t *why;
};

static void rcpt_result(struct smtp_msg *msg, size_t i, int status, const char *dsn,
                        const char *why)
{
    deliver_rcpt_result(&msg->req->rcpts[i], status, dsn, "%s", why);
    deliver_rcpt_relay(&msg->req->rcpts[i], msg->relay);
    if (status != DELIVER_TEMP)
        msg->done[i] = true;
}

/* Every recipient still open gets the same result. */
static void open_result(struct smtp_msg *msg, int status, const char *dsn, const char *why)
{
    for (size_t i = 0; i < msg->req->nrcpts; i++)
        if (!msg->done[i])
            rcpt_result(msg, i, status, dsn, why);
}

/* The session broke: every recipient without a final result defers. */
static int trans_broken(struct trans *t)
{
    open_result(t->msg, DELIVER_TEMP, t->fail.dsn, str_c(t->fail.why));
    return -1;
}

/* Status and DSN code of the last reply (an unexpected 3xx defers). */
static int reply_status(const struct smtp_reply *r, char dsn[16])
{
    int c = smtp_reply_class(r);
    str_lcpy(dsn, r->enh, 16);
    if (c == 2)
        return DELIVER_OK;
    if (c == 5)
        return DELIVER_PERM;
    dsn[0] = '4';
    return DELIVER_TEMP;
}

/* Apply the server's reply to recipient i, or to all open ones (i < 0). */
static void reply_to(struct trans *t, long i, const char *command)
{
    char dsn[16];
    int status = reply_status(&t->ss->reply, dsn);
    if (status == DELIVER_OK)
        str_setz(t->why, str_c(t->ss->reply.text));
    else
        smtp_session_said(t->ss, t->why, command);
    if (i >= 0)
        rcpt_result(t->msg, (size_t)i, status, dsn, str_c(t->why));
    else
        open_result(t->msg, status, dsn, str_c(t->why));
}

/* What the server must offer for this message; false after bouncing all. */
static bool trans_precheck(struct trans *t)
{
    struct smtp_session *ss = t->ss;
    struct smtp_msg *m = t->msg;
    str_reset(t->why);
    if (m->smtputf8 && !(ss->features & SMTP_FEAT_SMTPUTF8)) {
        str_setf(t->why, "SMTPUTF8 is required, but was not offered by host %s", ss->host_label);
        open_result(m, DELIVER_PERM, "5.6.7", str_c(t->why));
    } else if ((ss->features & SMTP_FEAT_SIZE) && ss->size_limit > 0 && m->size > ss->size_limit) {
        str_setf(t->why, "message size %llu exceeds size limit %llu of server %s",
                 (unsigned long long)m->size, (unsigned long long)ss->size_limit, ss->host_label);
        open_result(m, DELIVER_PERM, "5.3.4", str_c(t->why));
    } else if (m->eight_bit && !(ss->features & SMTP_FEAT_8BITMIME)) {
        if (m->mime_text) {
            t->to_qp = true;
            return true;
        }
        str_setf(t->why,
                 "host %s does not accept 8-bit content (no 8BITMIME) and the message cannot "
                 "be converted to 7 bits",
                 ss->host_label);
        open_result(m, DELIVER_PERM, "5.6.3", str_c(t->why));
    }
    return str_len(t->why) == 0;
}

static void send_mail(struct trans *t)
{
    struct smtp_session *ss = t->ss;
    struct smtp_msg *m = t->msg;
    str_t *cmd = str_new(256);
    str_setf(cmd, "MAIL FROM:<%s>", m->req->sender);
    if (ss->features & SMTP_FEAT_SIZE)
        str_appendf(cmd, " SIZE=%llu", (unsigned long long)m->size);
    if (m->eight_bit && !t->to_qp)
        str_appendz(cmd, " BODY=8BITMIME");
    if (m->smtputf8)
        str_appendz(cmd, " SMTPUTF8");
    if ((ss->features & SMTP_FEAT_DSN) && m->req->ret[0] != '\0')
        str_appendf(cmd, " RET=%s", m->req->ret);
    if ((ss->features & SMTP_FEAT_DSN) && m->req->envid[0] != '\0') {
        str_appendz(cmd, " ENVID=");
        addr_xtext_encode(cmd, m->req->envid, strlen(m->req->envid));
    }
    smtp_session_cmd(ss, "%s", str_c(cmd));
    str_free(&cmd);
}

static void send_rcpt(struct trans *t, size_t i)
{
    const struct deliver_rcpt *r = &t->msg->req->rcpts[i];
    str_t *cmd = str_new(256);
    str_setf(cmd, "RCPT TO:<%s>", r->rcpt);
    const char *semi = strchr(r->orcpt, ';');
    if ((t->ss->features & SMTP_FEAT_DSN) && r->notify[0] != '\0')
        str_appendf(cmd, " NOTIFY=%s", r->notify);
    if ((t->ss->features & SMTP_FEAT_DSN) && semi != NULL && semi[1] != '\0') {
        str_appendf(cmd, " ORCPT=%.*s;", (int)(semi - r->orcpt), r->orcpt);
        addr_xtext_encode(cmd, semi + 1, strlen(semi + 1));
    }
    smtp_session_cmd(t->ss, "%s", str_c(cmd));
    str_free(&cmd);
    t->sent[t->nsent++] = i;
}

static int read_mail(struct trans *t)
{
    if (smtp_session_reply(t->ss, "smtp_mail_timeout", "sending MAIL FROM", &t->fail) < 0)
        return trans_broken(t);
    t->mail_ok = smtp_reply_class(&t->ss->reply) == 2;
    if (!t->mail_ok)
        reply_to(t, -1, "MAIL FROM");
    return 0;
}

static int read_rcpt(struct trans *t, size_t i)
{
    if (smtp_session_reply(t->ss, "smtp_rcpt_timeout", "sending RCPT TO", &t->fail) < 0)
        return trans_broken(t);
    if (!t->mail_ok)
        return 0;
    if (smtp_reply_class(&t->ss->reply) == 2) {
        t->accepted[i] = true;
        t->naccepted++;
    } else {
        reply_to(t, (long)i, "RCPT TO");
    }
    return 0;
}

/* Recipients the server accepted get the reply (i < 0 form of reply_to). */
static void accepted_result(struct trans *t, const char *command)
{
    for (size_t k = 0; k < t->nsent; k++)
        if (t->accepted[t->sent[k]])
            reply_to(t, (long)t->sent[k], command);
}

/* DATA's reply, then the content and the final reply. */
static int trans_data(struct trans *t)
{
    if (smtp_session_reply(t->ss, "smtp_data_init_timeout", "sending DATA command", &t->fail) < 0)
        return trans_broken(t);
    if (!t->mail_ok || t->naccepted == 0) {
        if (smtp_reply_class(&t->ss->reply) == 3)
            t->ss->broken = true; /* a 354 with nobody to send to: drop it */
        return 0;
    }
    if (smtp_reply_class(&t->ss->reply) != 3) {
        accepted_result(t, "DATA");
        return 0;
    }
    char *err = NULL;
    if (smtp_body_send(t->msg, t->ss->s, t->to_qp, false, &err) < 0) {
        msg_warn("%s: %s", t->msg->req->queue_id, err);
        smtp_fail_set(&t->fail, DELIVER_TEMP, "4.3.0", "cannot read the queue file: %s", err);
        free(err);
        t->ss->broken = true;
        return trans_broken(t);
    }
    if (stream_flush(t->ss->s) != STREAM_OK) {
        t->ss->broken = true;
        smtp_fail_set(&t->fail, DELIVER_TEMP, "4.4.2",
                      "lost connection with %s while sending message body", t->ss->host_label);
        msg_info("%s", str_c(t->fail.why));
        return trans_broken(t);
    }
    if (smtp_session_reply(t->ss, "smtp_data_done_timeout",
                           "sending end of data -- message may be sent more than once",
                           &t->fail) < 0)
        return trans_broken(t);
    accepted_result(t, "end of DATA");
    return 0;
}

/* BDAT <size> LAST and the content; -1 (results set) when the queue file fails. */
static int send_bdat(struct trans *t)
{
    char *err = NULL;
    smtp_session_cmd(t->ss, "BDAT %llu LAST", (unsigned long long)smtp_body_wire_size(t->msg));
    if (smtp_body_send(t->msg, t->ss->s, false, true, &err) < 0) {
        msg_warn("%s: %s", t->msg->req->queue_id, err);
        smtp_fail_set(&t->fail, DELIVER_TEMP, "4.3.0", "cannot read the queue file: %s", err);
        free(err);
        t->ss->broken = true; /* the chunk is short: the session is out of step */
        return trans_broken(t);
    }
    return 0;
}

/* The reply to BDAT LAST: the final word for the accepted recipients. */
static int read_bdat(struct trans *t)
{
    if (smtp_session_reply(t->ss, "smtp_data_done_timeout",
                           "sending end of data -- message may be sent more than once",
                           &t->fail) < 0)
        return trans_broken(t);
    if (!t->mail_ok || t->naccepted == 0) {
        /* Pipelined content for nobody: do not trust the session's state. */
        t->ss->broken = true;
        return 0;
    }
    accepted_result(t, "end of BDAT");
    return 0;
}

/* Commands without PIPELINING: each waits for its reply. */
static int trans_lockstep(struct trans *t)
{
    send_mail(t);
    if (read_mail(t) < 0)
        return -1;
    for (size_t i = 0; t->mail_ok && i < t->msg->req->nrcpts; i++) {
        if (t->msg->done[i])
            continue;
        send_rcpt(t, i);
        if (read_rcpt(t, i) < 0)
            return -1;
    }
    if (!t->mail_ok || t->naccepted == 0)
        return 0;
    if (t->bdat)
        return send_bdat(t) < 0 ? -1 : read_bdat(t);
    smtp_session_cmd(t->ss, "DATA");
    return trans_data(t);
}

/* The pending RSET's reply; SMTP_TRANS_STALE when the connection is gone. */
static int read_rset(struct trans *t)
{
    t->ss->rset_pending = false;
    if (smtp_session_reply(t->ss, "smtp_helo_timeout", "sending RSET", &t->fail) < 0)
        return SMTP_TRANS_STALE;
    if (t->ss->reply.code == 421) { /* closing (idle timeout): it takes nothing more */
        t->ss->broken = true;
        return SMTP_TRANS_STALE;
    }
    return 0; /* a refusal changes nothing: the replies to MAIL and on decide */
}

/*
 * All commands in one write; a small message's chunk goes with them, a
 * large one's (not held in memory) only once a recipient was accepted,
 * so that megabytes are not sent for nobody.
 */
static int trans_pipelined(struct trans *t)
{
    bool rset = t->ss->rset_pending;
    bool chunk_now = t->bdat && t->msg->content != NULL;
    if (rset)
        smtp_session_cmd(t->ss, "RSET");
    send_mail(t);
    for (size_t i = 0; i < t->msg->req->nrcpts; i++)
        if (!t->msg->done[i])
            send_rcpt(t, i);
    if (chunk_now && send_bdat(t) < 0)
        return -1;
    if (!t->bdat)
        smtp_session_cmd(t->ss, "DATA");
    if (rset && read_rset(t) == SMTP_TRANS_STALE)
        return SMTP_TRANS_STALE;
    if (read_mail(t) < 0)
        return -1;
    for (size_t k = 0; k < t->nsent; k++)
        if (read_rcpt(t, t->sent[k]) < 0)
            return -1;
    if (!t->bdat)
        return trans_data(t);
    if (chunk_now)
        return read_bdat(t);
    if (!t->mail_ok || t->naccepted == 0)
        return 0;
    return send_bdat(t) < 0 ? -1 : read_bdat(t);
}

int smtp_trans_run(struct smtp_session *ss, struct smtp_msg *msg)
{
    int rc = 0;
    size_t n = msg->req->nrcpts;
    msg->relay = ss->label;
    struct trans t = {
        .ss = ss,
        .msg = msg,
        .pipelining = (ss->features & SMTP_FEAT_PIPELINING) != 0,
        .sent = xcalloc(n, sizeof(size_t)),
        .accepted = xcalloc(n, sizeof(bool)),
        .why = str_new(256),
    };
    smtp_fail_init(&t.fail);
    if (trans_precheck(&t)) {
        t.bdat = (ss->features & SMTP_FEAT_CHUNKING) && !t.to_qp;
        if (t.pipelining)
            rc = trans_pipelined(&t) == SMTP_TRANS_STALE ? SMTP_TRANS_STALE : 0;
        else
            (void)trans_lockstep(&t);
    }
    smtp_fail_free(&t.fail);
    str_free(&t.why);
    free(t.sent);
    free(t.accepted);
    msg->relay = NULL; /* it points into the session */
    return rc;
}

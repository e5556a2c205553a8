/*
 * smtpd_data.c - message content: DATA (dot-stuffed, ends only at
 * <CRLF>.<CRLF>) and BDAT chunks (RFC 3030), decoded to LF line ends and
 * streamed to the cleanup service; the 250 "queued as" is sent only
 * after cleanup says the queue file is on stable storage.
 */
#include "smtpd.h"

#include "config.h"
#include "log.h"
#include "mem.h"

#define SMTPD_PIECE 65536

static const char *smtpd_body_name(enum addr_body b)
{
    switch (b) {
    case ADDR_BODY_7BIT:
        return "7BIT";
    case ADDR_BODY_8BITMIME:
        return "8BITMIME";
    case ADDR_BODY_BINARYMIME:
        return "BINARYMIME";
    default:
        return NULL;
    }
}

/* Connect to cleanup and send the envelope; NULL (logged) on failure. */
static cleanup_t *smtpd_cleanup_open(struct smtpd_session *s)
{
    struct cleanup_rcpt *r = xcalloc(s->nrcpt, sizeof(*r));
    char *tls_info = smtpd_tls_received_info(s);
    for (size_t i = 0; i < s->nrcpt; i++) {
        r[i].address = s->rcpts[i].addr;
        r[i].orcpt = s->rcpts[i].orcpt;
        r[i].notify = s->rcpts[i].notify;
    }
    struct cleanup_envelope env = {
        .origin = "smtpd",
        .sender = s->sender.addr,
        .client_name = s->name,
        .client_addr = s->addr,
        .client_port = s->port,
        .helo_name = s->helo,
        .protocol = smtpd_tls_protocol(s),
        .sasl_method = s->sasl_method,
        .sasl_username = s->sasl_username,
        .tls_info = tls_info,
        .envid = s->mopts.envid,
        .ret = s->mopts.ret == ADDR_RET_FULL   ? "FULL"
               : s->mopts.ret == ADDR_RET_HDRS ? "HDRS"
                                               : NULL,
        .body = smtpd_body_name(s->mopts.body),
        .smtputf8 = s->mopts.smtputf8,
        .rcpts = r,
        .rcpt_count = s->nrcpt,
        .timeout = s->cfg->timeout,
    };
    char *err = NULL;
    cleanup_t *h = cleanup_open(&env, &err);
    free(r);
    free(tls_info);
    if (h == NULL) {
        msg_warn("cleanup: %s", err);
        free(err);
    }
    return h;
}

/* End the content and answer with cleanup's verdict. */
static bool smtpd_cleanup_finish(struct smtpd_session *s, cleanup_t **hp)
{
    struct cleanup_result res;
    cleanup_finish(hp, &res);
    if (res.status == CLEANUP_STAT_OK) {
        if (s->sasl_username != NULL)
            msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s", res.queue_id, s->namaddr,
                     s->sasl_method, s->sasl_username);
        else
            msg_info("%s: client=%s", res.queue_id, s->namaddr);
        smtpd_reply(s, "250 2.0.0 Ok: queued as %s", res.queue_id);
        return true;
    }
    const char *reason = res.reason[0] != '\0' ? res.reason : "queue file write error";
    if (res.status == CLEANUP_STAT_PERM) {
        const char *dsn = res.dsn[0] == '5' ? res.dsn : "5.7.1";
        smtpd_reply(s, "%d %s Error: %s", strcmp(dsn, "5.3.4") == 0 ? 552 : 550, dsn, reason);
    } else {
        /* RFC 5321: 452 is "insufficient system storage" (cleanup's 4.3.1). */
        const char *dsn = res.dsn[0] == '4' ? res.dsn : "4.3.0";
        smtpd_reply(s, "%d %s Error: %s", strcmp(dsn, "4.3.1") == 0 ? 452 : 451, dsn, reason);
    }
    return false;
}

/* Send decoded content on, unless the message is already too big. */
static void smtpd_content(struct smtpd_session *s, cleanup_t **hp, str_t *out, uint64_t *size)
{
    *size += str_len(out);
    if (s->cfg->size_limit > 0 && *size > s->cfg->size_limit)
        cleanup_abort(hp); /* keep reading to the end, queue nothing */
    else if (*hp != NULL && str_len(out) > 0)
        (void)cleanup_write(*hp, str_c(out), str_len(out));
    str_reset(out);
}

/* Read DATA content to <CRLF>.<CRLF>; returns the decoder status or a stream error. */
static int smtpd_data_read(struct smtpd_session *s, cleanup_t **hp, uint64_t *size)
{
    struct smtp_data dec;
    smtp_data_init(&dec, SMTP_DATA_DOT, s->bare_lf_ok);
    str_t *in = str_new(SMTPD_PIECE), *out = str_new(SMTPD_PIECE);
    int st;
    for (;;) {
        st = stream_read_line(s->client, in, SMTPD_PIECE);
        if (st != STREAM_OK && st != STREAM_TOOLONG)
            break;
        if (str_len(in) == 0) {
            st = STREAM_EOF;
            break;
        }
        size_t used;
        st = smtp_data_feed(&dec, str_c(in), str_len(in), out, &used);
        if (st != SMTP_DATA_MORE || str_len(out) >= SMTPD_PIECE)
            smtpd_content(s, hp, out, size);
        if (st != SMTP_DATA_MORE)
            break;
    }
    str_free(&in);
    str_free(&out);
    return st;
}

bool smtpd_cmd_data(struct smtpd_session *s)
{
    if (!s->mail_given) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return false;
    }
    if (s->nrcpt == 0) {
        smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
        return false;
    }
    cleanup_t *h = smtpd_cleanup_open(s);
    if (h == NULL) {
        smtpd_reply(s, "451 4.3.0 Error: queue file write error");
        return false;
    }
    smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    if (stream_flush(s->client) != STREAM_OK) {
        cleanup_abort(&h);
        smtpd_io_failed(s, STREAM_ERROR);
        return false;
    }
    uint64_t size = 0;
    int st = smtpd_data_read(s, &h, &size);
    bool ok = false;
    if (st == SMTP_DATA_END && h != NULL)
        ok = smtpd_cleanup_finish(s, &h);
    else if (st == SMTP_DATA_END)
        smtpd_reply(s, "552 5.3.4 Error: message file too big");
    else if (st == SMTP_DATA_BARE_LF) {
        msg_info("bare <LF> received from %s after DATA", s->namaddr);
        smtpd_reply_fatal(s, "521 5.5.2 %s Error: bare <LF> received", s->cfg->myhostname);
    } else
        smtpd_io_failed(s, st);
    cleanup_abort(&h);
    smtpd_reset(s);
    return ok;
}

/* ---- BDAT ---------------------------------------------------------------- */

void smtpd_bdat_abort(struct smtpd_session *s)
{
    cleanup_abort(&s->bdat);
    s->bdat_active = false;
    s->bdat_code = 0;
    xfree(s->bdat_error);
    s->bdat_size = 0;
}

/* Read (and decode into cleanup, when there is one) n chunk bytes. */
static bool smtpd_bdat_read(struct smtpd_session *s, uint64_t n)
{
    char *buf = xmalloc(SMTPD_PIECE);
    str_t *out = str_new(SMTPD_PIECE);
    bool ok = true;
    while (n > 0) {
        size_t want = n < SMTPD_PIECE ? (size_t)n : SMTPD_PIECE;
        ssize_t got = stream_read(s->client, buf, want);
        if (got <= 0) {
            smtpd_io_failed(s, got == 0 ? STREAM_EOF : (int)got);
            ok = false;
            break;
        }
        n -= (uint64_t)got;
        if (s->bdat_code != 0)
            continue;
        size_t used;
        (void)smtp_data_feed(&s->bdat_dec, buf, (size_t)got, out, &used);
        smtpd_content(s, &s->bdat, out, &s->bdat_size);
    }
    free(buf);
    str_free(&out);
    return ok;
}

/* Set the transaction's sticky error, unless one is already set. */
static void smtpd_bdat_fail(struct smtpd_session *s, int code, const char *text)
{
    if (s->bdat_code == 0) {
        s->bdat_code = code;
        s->bdat_error = xstrdup(text);
    }
    cleanup_abort(&s->bdat);
}

/* First chunk: check the transaction and open cleanup. */
static void smtpd_bdat_start(struct smtpd_session *s)
{
    s->bdat_active = true;
    s->bdat_size = 0;
    smtp_data_init(&s->bdat_dec, SMTP_DATA_RAW, true);
    if (!s->mail_given)
        smtpd_bdat_fail(s, 503, "5.5.1 Error: need MAIL command");
    else if (s->nrcpt == 0)
        smtpd_bdat_fail(s, 554, "5.5.1 Error: no valid recipients");
    else {
        s->bdat = smtpd_cleanup_open(s);
        if (s->bdat == NULL)
            smtpd_bdat_fail(s, 451, "4.3.0 Error: queue file write error");
    }
}

bool smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (!s->bdat_active)
        smtpd_bdat_start(s);
    if (!smtpd_bdat_read(s, cmd->bdat_size))
        return false;
    if (s->bdat_code == 0 && s->bdat == NULL)
        smtpd_bdat_fail(s, 552, "5.3.4 Error: message file too big");
    if (s->bdat_code != 0) {
        smtpd_reply(s, "%d %s", s->bdat_code, s->bdat_error);
        if (cmd->bdat_last)
            smtpd_reset(s);
        return false;
    }
    if (!cmd->bdat_last) {
        smtpd_reply(s, "250 2.0.0 Ok: %llu bytes", (unsigned long long)cmd->bdat_size);
        return true;
    }
    str_t *rest = str_new(8);
    smtp_data_finish(&s->bdat_dec, rest);
    smtpd_content(s, &s->bdat, rest, &s->bdat_size);
    str_free(&rest);
    bool ok = s->bdat != NULL ? smtpd_cleanup_finish(s, &s->bdat)
                              : (smtpd_reply(s, "552 5.3.4 Error: message file too big"), false);
    smtpd_reset(s);
    return ok;
}

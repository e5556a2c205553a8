/*
 * smtpd_cmd.c - the SMTP server's command handlers other than DATA and
 * BDAT: EHLO, HELO, MAIL, RCPT, RSET, NOOP, QUIT, VRFY, HELP, the
 * refusal of EXPN and ETRN; STARTTLS is in smtpd_tls.c, AUTH in
 * smtpd_auth.c.
 */
#include "smtpd.h"

#include "log.h"
#include "mem.h"
#include "sasl.h"

/* RFC 5321 4.1.4: NOOP, RSET, VRFY, HELP are cheap to send and add up. */
static void smtpd_junk(struct smtpd_session *s)
{
    if (++s->junk > s->cfg->junk_limit)
        s->errors++;
}

static bool smtpd_cmd_helo(struct smtpd_session *s, const struct smtp_cmd *cmd, bool esmtp)
{
    smtpd_reset(s);
    free(s->helo);
    s->helo = xstrndup(cmd->arg, cmd->arg_len);
    s->esmtp = esmtp;
    char *err = s->cfg->delay_reject ? NULL : smtpd_check_helo(s);
    if (err != NULL) {
        smtpd_reply(s, "%s", err);
        free(err);
        xfree(s->helo);
        return false;
    }
    if (!esmtp) {
        smtpd_reply(s, "250 %s", s->cfg->myhostname);
        return true;
    }
    stream_t *c = s->client;
    (void)stream_printf(c, "250-%s\r\n250-PIPELINING\r\n", s->cfg->myhostname);
    if (s->cfg->size_limit > 0)
        (void)stream_printf(c, "250-SIZE %llu\r\n", (unsigned long long)s->cfg->size_limit);
    else
        (void)stream_puts(c, "250-SIZE\r\n");
    if (!s->cfg->vrfy_disabled)
        (void)stream_puts(c, "250-VRFY\r\n");
    if (smtpd_tls_offer(s))
        (void)stream_puts(c, "250-STARTTLS\r\n");
    if (smtpd_auth_offer(s))
        (void)stream_printf(c, "250-AUTH %s\r\n", smtpd_auth_mechs(s));
    (void)stream_puts(c, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n");
    if (s->cfg->smtputf8)
        (void)stream_puts(c, "250-SMTPUTF8\r\n");
    (void)stream_puts(c, "250 CHUNKING\r\n");
    return true;
}

static bool smtpd_cmd_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (s->mail_given) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return false;
    }
    if (s->cfg->helo_required && s->helo == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return false;
    }
    const char *need_tls = smtpd_tls_mail_refusal(s);
    if (need_tls != NULL) {
        smtpd_reply(s, "%s", need_tls);
        return false;
    }
    int reply;
    const char *dsn;
    char *err = NULL;
    if (addr_mail_parse(cmd->arg, cmd->arg_len, s->cfg->strict ? ADDR_F_STRICT : 0, s->cfg->ext,
                        &s->sender, &s->mopts, &reply, &dsn, &err) < 0) {
        smtpd_reply(s, "%d %s %s", reply, dsn, err);
        free(err);
        return false;
    }
    s->mail_given = true;
    if (s->cfg->size_limit > 0 && s->mopts.size_set && s->mopts.size > s->cfg->size_limit) {
        smtpd_reset(s);
        smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        return false;
    }
    err = s->cfg->delay_reject ? NULL : smtpd_check_sender(s);
    if (err != NULL) {
        smtpd_reset(s);
        smtpd_reply(s, "%s", err);
        free(err);
        return false;
    }
    smtpd_reply(s, "250 2.1.0 Ok");
    return true;
}

static void smtpd_rcpt_add(struct smtpd_session *s, const struct addr_path *p,
                           const struct addr_rcpt_opts *o)
{
    if (s->nrcpt == s->rcpt_cap) {
        s->rcpt_cap = s->rcpt_cap ? 2 * s->rcpt_cap : 8;
        s->rcpts = xreallocarray(s->rcpts, s->rcpt_cap, sizeof(*s->rcpts));
    }
    struct smtpd_rcpt *r = &s->rcpts[s->nrcpt++];
    r->addr = xstrdup(p->addr);
    r->orcpt = o->orcpt != NULL ? xasprintf("%s;%s", o->orcpt_type, o->orcpt) : NULL;
    r->notify = NULL;
    if (o->notify != 0) {
        str_t *n = str_new(32);
        if (o->notify & ADDR_NOTIFY_NEVER)
            (void)str_appendz(n, "NEVER");
        if (o->notify & ADDR_NOTIFY_SUCCESS)
            (void)str_appendz(n, "SUCCESS,");
        if (o->notify & ADDR_NOTIFY_FAILURE)
            (void)str_appendz(n, "FAILURE,");
        if (o->notify & ADDR_NOTIFY_DELAY)
            (void)str_appendz(n, "DELAY,");
        if (str_len(n) > 0 && str_c(n)[str_len(n) - 1] == ',')
            str_truncate(n, str_len(n) - 1);
        r->notify = str_steal(&n);
    }
}

static void smtpd_log_reject(struct smtpd_session *s, const char *cmd, const char *reply,
                             const char *rcpt)
{
    str_t *l = str_new(256);
    (void)str_appendf(l, "NOQUEUE: reject: %s from %s: ", cmd, s->namaddr);
    str_append_printable(l, reply, strlen(reply), 512);
    (void)str_appendz(l, "; from=<");
    str_append_printable(l, s->sender.addr, strlen(s->sender.addr), 300);
    (void)str_appendz(l, ">");
    if (rcpt != NULL) {
        (void)str_appendz(l, " to=<");
        str_append_printable(l, rcpt, strlen(rcpt), 300);
        (void)str_appendz(l, ">");
    }
    (void)str_appendf(l, " proto=%s helo=<", smtpd_tls_protocol(s));
    if (s->helo != NULL)
        str_append_printable(l, s->helo, strlen(s->helo), 255);
    (void)str_appendz(l, ">");
    msg_info("%s", str_c(l));
    str_free(&l);
}

static bool smtpd_cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (!s->mail_given) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return false;
    }
    if (s->nrcpt >= (size_t)s->cfg->recipient_limit) {
        smtpd_reply(s, "452 4.5.3 Error: too many recipients");
        return false;
    }
    struct addr_path p;
    struct addr_rcpt_opts o;
    int reply;
    const char *dsn;
    char *err = NULL;
    int flags = (s->cfg->strict ? ADDR_F_STRICT : 0) | (s->mopts.smtputf8 ? ADDR_F_SMTPUTF8 : 0);
    if (addr_rcpt_parse(cmd->arg, cmd->arg_len, flags, s->cfg->ext, &p, &o, &reply, &dsn, &err) <
        0) {
        smtpd_reply(s, "%d %s %s", reply, dsn, err);
        free(err);
        return false;
    }
    char *rej = smtpd_check_rcpt(s, &p);
    bool ok = rej == NULL;
    if (ok) {
        smtpd_rcpt_add(s, &p, &o);
        smtpd_reply(s, "250 2.1.5 Ok");
    } else {
        smtpd_log_reject(s, "RCPT", rej, p.addr);
        smtpd_reply(s, "%s", rej);
        free(rej);
    }
    addr_path_free(&p);
    addr_rcpt_opts_free(&o);
    return ok;
}

static bool smtpd_cmd_vrfy(struct smtpd_session *s)
{
    smtpd_junk(s);
    if (s->cfg->vrfy_disabled) {
        smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
        return false;
    }
    /* Says nothing about whether the address exists. */
    smtpd_reply(s, "252 2.0.0 Cannot verify addresses; send mail and delivery will be tried");
    return true;
}

static bool smtpd_cmd_simple(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    switch (cmd->verb) {
    case SMTP_VERB_RSET:
        smtpd_junk(s);
        smtpd_reset(s);
        smtpd_reply(s, "250 2.0.0 Ok");
        return true;
    case SMTP_VERB_NOOP:
        smtpd_junk(s);
        smtpd_reply(s, "250 2.0.0 Ok");
        return true;
    case SMTP_VERB_QUIT:
        smtpd_reply(s, "221 2.0.0 Bye");
        s->quit = true;
        return true;
    case SMTP_VERB_HELP:
        smtpd_junk(s);
        smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP "
                       "QUIT; see RFC 5321");
        return true;
    default:
        smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        return false;
    }
}

bool smtpd_cmd_dispatch(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (s->bdat_active && cmd->verb != SMTP_VERB_BDAT && cmd->verb != SMTP_VERB_RSET &&
        cmd->verb != SMTP_VERB_QUIT && cmd->verb != SMTP_VERB_NOOP) {
        smtpd_reply(s, "503 5.5.1 Error: BDAT transaction in progress");
        return false;
    }
    switch (cmd->verb) {
    case SMTP_VERB_EHLO:
        return smtpd_cmd_helo(s, cmd, true);
    case SMTP_VERB_HELO:
        return smtpd_cmd_helo(s, cmd, false);
    case SMTP_VERB_MAIL:
        return smtpd_cmd_mail(s, cmd);
    case SMTP_VERB_RCPT:
        return smtpd_cmd_rcpt(s, cmd);
    case SMTP_VERB_DATA:
        return smtpd_cmd_data(s);
    case SMTP_VERB_BDAT:
        return smtpd_cmd_bdat(s, cmd);
    case SMTP_VERB_VRFY:
        return smtpd_cmd_vrfy(s);
    case SMTP_VERB_STARTTLS:
        return smtpd_cmd_starttls(s);
    case SMTP_VERB_AUTH:
        return smtpd_cmd_auth(s, cmd);
    default:
        return smtpd_cmd_simple(s, cmd);
    }
}

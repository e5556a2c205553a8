/*
 * smtpd_auth.c - SMTP AUTH (RFC 4954) in the SMTP server: whether AUTH is
 * offered (smtpd_sasl_auth_enable, and smtpd_tls_auth_only before TLS),
 * the AUTH command with SASL PLAIN and LOGIN (lib/sasl.h, initial
 * responses included), the check of the credentials by authd
 * (lib/auth_client.h, which also applies the failure delay), and the
 * authenticated identity that the restrictions, the log and cleanup use.
 * The mechanisms offered and accepted are those that
 * smtpd_sasl_security_options (before TLS) or
 * smtpd_sasl_tls_security_options (over TLS) leave; when they leave none,
 * AUTH is not offered at all.
 *
 * Replies: 334 challenge, 235 2.7.0 success, 535 5.7.8 bad credentials,
 * 454 4.7.0 authd unavailable or temporary failure, 501 for a cancelled
 * exchange or bad base64, 503 for AUTH twice or inside a transaction,
 * 538 5.7.11 for AUTH before TLS when TLS is required for it.  After
 * SMTPD_AUTH_MAX_FAILURES failed attempts in one session the client is
 * disconnected with 421.
 */
#include "smtpd.h"

#include <strings.h>

#include "auth_client.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "sasl.h"
#include "tls.h"

#define SMTPD_AUTH_MAX_FAILURES 3

/* smtpd_sasl_security_options, and smtpd_sasl_tls_security_options over TLS. */
static unsigned smtpd_sasl_sec, smtpd_sasl_tls_sec;

/* A bad option list allows no mechanism at all (fail closed), with a warning. */
static unsigned smtpd_auth_security(const char *param)
{
    unsigned flags;
    char *err = NULL;
    if (sasl_security_parse(cfg_str(param), &flags, &err) == 0)
        return flags;
    msg_warn("%s: %s; AUTH is not offered while this is so", param, err);
    free(err);
    return SASL_SEC_NOPLAINTEXT | SASL_SEC_MUTUAL_AUTH;
}

void smtpd_auth_config(struct smtpd_config *c)
{
    c->sasl_enable = cfg_bool("smtpd_sasl_auth_enable");
    c->tls_auth_only = cfg_bool("smtpd_tls_auth_only");
    if (c->sasl_enable)
        c->ext |= ADDR_EXT_AUTH;
    smtpd_sasl_sec = smtpd_auth_security("smtpd_sasl_security_options");
    smtpd_sasl_tls_sec = smtpd_auth_security("smtpd_sasl_tls_security_options");
}

static unsigned smtpd_auth_flags(const struct smtpd_session *s)
{
    return tls_active(s->client) ? smtpd_sasl_tls_sec : smtpd_sasl_sec;
}

const char *smtpd_auth_mechs(const struct smtpd_session *s)
{
    return sasl_mech_list_for(smtpd_auth_flags(s));
}

/* Whether AUTH may be used now (offered in EHLO and accepted). */
bool smtpd_auth_offer(const struct smtpd_session *s)
{
    return s->cfg->sasl_enable && (tls_active(s->client) || !s->cfg->tls_auth_only) &&
           *smtpd_auth_mechs(s) != '\0';
}

void smtpd_auth_reset(struct smtpd_session *s)
{
    xfree(s->sasl_username);
    s->sasl_method = NULL;
}

/* Read one SASL response line into s->line; false when the session is over. */
static int smtpd_auth_read(struct smtpd_session *s)
{
    (void)stream_flush(s->client);
    int st = stream_read_line(s->client, s->line, SASL_ENCODED_MAX + 2);
    if (st == STREAM_TOOLONG) {
        st = stream_skip_line(s->client);
        if (st == STREAM_OK)
            return STREAM_TOOLONG;
    }
    if (st != STREAM_OK || str_len(s->line) == 0) {
        smtpd_io_failed(s, st == STREAM_OK ? STREAM_EOF : st);
        return st == STREAM_OK ? STREAM_EOF : st;
    }
    str_chomp(s->line);
    return STREAM_OK;
}

/* Run the exchange; SASL_DONE leaves the credentials in *x. */
static int smtpd_auth_exchange(struct smtpd_session *s, struct sasl_server *x, const char *mech,
                               const char *initial)
{
    const char *challenge;
    char *err = NULL;
    int rc = sasl_server_start(x, mech, initial, &challenge, &err);
    while (rc == SASL_CONTINUE) {
        smtpd_reply(s, "334 %s", challenge);
        int st = smtpd_auth_read(s);
        if (st == STREAM_TOOLONG) {
            smtpd_reply(s, "500 5.5.6 Authentication Exchange line is too long");
            return SASL_ERROR;
        }
        if (st != STREAM_OK)
            return SASL_ERROR;
        rc = sasl_server_step(x, str_c(s->line), str_len(s->line), &challenge, &err);
    }
    if (rc == SASL_CANCELLED)
        smtpd_reply(s, "501 5.7.0 Authentication aborted");
    else if (rc == SASL_ERROR && !s->quit) {
        const char *why = err != NULL ? err : "malformed response";
        str_t *l = str_new(64);
        str_append_printable(l, why, strlen(why), 200);
        smtpd_reply(s, "501 5.5.2 Cannot decode response: %s", str_c(l));
        str_free(&l);
    }
    free(err);
    return rc;
}

/* One failed attempt: log it, answer, and disconnect after too many. */
static void smtpd_auth_failed(struct smtpd_session *s, const char *mech, const char *why)
{
    msg_warn("%s: SASL %s authentication failed: %s", s->namaddr, mech, why);
    if (++s->auth_failures >= SMTPD_AUTH_MAX_FAILURES) {
        msg_info("too many failed authentication attempts from %s", s->namaddr);
        smtpd_reply_fatal(s, "421 4.7.0 %s Error: too many failed authentication attempts",
                          s->cfg->myhostname);
        return;
    }
    smtpd_reply(s, "535 5.7.8 Error: authentication failed: %s", why);
}

/* Ask authd; the reply is sent here. */
static bool smtpd_auth_verify(struct smtpd_session *s, const char *mech,
                              const struct sasl_creds *cr)
{
    if (*cr->authzid != '\0' && strcmp(cr->authzid, cr->authcid) != 0) {
        smtpd_auth_failed(s, mech, "authorization identity not allowed");
        return false;
    }
    struct auth_request req = {
        .service = "smtp",
        .user = cr->authcid,
        .password = cr->password,
        .client_addr = s->addr,
        .tls = tls_active(s->client),
    };
    struct auth_result res;
    char *err = NULL;
    if (auth_client_verify(&req, &res, &err) < 0) {
        msg_warn("%s: SASL %s authentication: authentication service unavailable: %s", s->namaddr,
                 mech, err);
        free(err);
        smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
        return false;
    }
    bool ok = false;
    if (res.status == AUTH_OK) {
        s->sasl_username = xstrdup(res.user != NULL ? res.user : cr->authcid);
        s->sasl_method = strcasecmp(mech, "LOGIN") == 0 ? "LOGIN" : "PLAIN";
        smtpd_reply(s, "235 2.7.0 Authentication successful");
        ok = true;
    } else if (res.status == AUTH_TEMPFAIL) {
        msg_warn("%s: SASL %s authentication: temporary failure: %s", s->namaddr, mech, res.reason);
        smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
    } else
        smtpd_auth_failed(s, mech, "authentication failed");
    auth_result_clear(&res);
    return ok;
}

bool smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (!s->cfg->sasl_enable) {
        smtpd_reply(s, "503 5.5.1 Error: authentication not enabled");
        return false;
    }
    if (!tls_active(s->client) && s->cfg->tls_auth_only) {
        smtpd_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
        return false;
    }
    if (s->helo == NULL || !s->esmtp) {
        smtpd_reply(s, "503 5.5.1 Error: send EHLO first");
        return false;
    }
    if (s->sasl_username != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: already authenticated");
        return false;
    }
    if (s->mail_given) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return false;
    }
    char *args = xstrndup(cmd->arg, cmd->arg_len);
    char *mech = args + strspn(args, " ");
    char *initial = mech + strcspn(mech, " ");
    if (*initial != '\0') {
        *initial++ = '\0';
        initial += strspn(initial, " ");
        if (*initial == '\0' || strchr(initial, ' ') != NULL) {
            smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
            free(args);
            return false;
        }
    } else
        initial = NULL;
    if (*mech == '\0') {
        smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        free(args);
        return false;
    }
    if (!sasl_mech_allowed(mech, smtpd_auth_flags(s))) {
        /* Unknown, or left out by smtpd_sasl_[tls_]security_options. */
        smtpd_reply(s, "504 5.7.4 Unsupported authentication mechanism");
        free(args);
        return false;
    }
    struct sasl_server x;
    bool ok = false;
    if (smtpd_auth_exchange(s, &x, mech, initial) == SASL_DONE)
        ok = smtpd_auth_verify(s, mech, &x.creds);
    sasl_server_clear(&x);
    free(args);
    return ok;
}

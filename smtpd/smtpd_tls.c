/*
 * smtpd_tls.c - TLS in the SMTP server (RFC 3207): the server context
 * (its files read before chroot from the smtpd_tls_* parameters, the
 * OpenSSL context built at the first STARTTLS, or at once in wrapper
 * mode, so that an idle plaintext session stays small), STARTTLS with
 * the plaintext-injection defence, wrapper mode (smtps, port 465), the
 * security level's rules for MAIL, and the TLS text for the Received:
 * header.  A context that cannot be built (missing, unreadable or
 * mismatched key or certificate) is logged once at startup naming the
 * file; the daemon keeps serving: at level may without STARTTLS, at
 * level encrypt refusing mail with 454, in wrapper mode closing each
 * connection.
 */
#include "smtpd.h"

#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "tls.h"

static tls_server_t *smtpd_tls_ctx;

void smtpd_tls_init(struct smtpd_config *c)
{
    const char *lv = cfg_str("smtpd_tls_security_level");
    enum tls_level level;
    if (tls_level_parse(lv, &level) < 0 || level > TLS_LEV_ENCRYPT) {
        msg_warn("smtpd_tls_security_level = %s: use none, may or encrypt; using encrypt", lv);
        level = TLS_LEV_ENCRYPT;
    }
    c->tls_level = (int)level;
    c->tls_wrapper = cfg_bool("smtpd_tls_wrappermode");
    c->tls_received_header = cfg_bool("smtpd_tls_received_header");
    c->tls_loglevel = (int)cfg_int("smtpd_tls_loglevel");
    if (level == TLS_LEV_NONE && !c->tls_wrapper)
        return;
    bool mandatory = level == TLS_LEV_ENCRYPT || c->tls_wrapper;
    char *err = NULL;
    /* Wrapper mode needs the context for every session: build it now.
     * Else read the files now (they may be root's only) and build on the
     * first STARTTLS; a throw-away child checks that the build works. */
    smtpd_tls_ctx = tls_server_from_config(mandatory, !c->tls_wrapper, &err);
    if (smtpd_tls_ctx != NULL && !c->tls_wrapper &&
        tls_server_check(smtpd_tls_ctx, cfg_str("mail_owner"), &err) < 0)
        tls_server_free(&smtpd_tls_ctx);
    if (smtpd_tls_ctx != NULL && !c->tls_wrapper) {
        const char *jail = getenv(SERVER_ENV_CHROOT);
        if (jail != NULL && *jail != '\0')
            tls_load_config(); /* openssl.cnf is out of sight in the jail */
    }
    if (smtpd_tls_ctx != NULL)
        return;
    if (c->tls_wrapper)
        msg_error("TLS is not available: %s; wrapper mode sessions are closed at once", err);
    else if (mandatory)
        msg_error("TLS is not available: %s; mail is refused with 454 until this is fixed", err);
    else
        msg_warn("TLS is not available: %s; STARTTLS is not offered", err);
    free(err);
}

bool smtpd_tls_offer(const struct smtpd_session *s)
{
    return smtpd_tls_ctx != NULL && s->cfg->tls_level >= TLS_LEV_MAY && !tls_active(s->client);
}

const char *smtpd_tls_mail_refusal(const struct smtpd_session *s)
{
    if (s->cfg->tls_level < TLS_LEV_ENCRYPT || tls_active(s->client))
        return NULL;
    if (smtpd_tls_ctx == NULL)
        return "454 4.7.0 TLS not available due to local problem";
    return "530 5.7.0 Must issue a STARTTLS command first";
}

/* Handshake; false (logged, session over) on failure. */
static bool smtpd_tls_handshake(struct smtpd_session *s)
{
    char *err = NULL;
    if (tls_server_start(s->client, smtpd_tls_ctx, &err) < 0) {
        const char *prefix = "SSL_accept error: ";
        const char *why = strncmp(err, prefix, strlen(prefix)) == 0 ? err + strlen(prefix) : err;
        str_t *l = str_new(128);
        str_append_printable(l, why, strlen(why), 512);
        msg_info("SSL_accept error from %s: %s", s->namaddr, str_c(l));
        str_free(&l);
        free(err);
        s->quit = true;
        return false;
    }
    if (s->cfg->tls_loglevel >= 1) {
        str_t *d = str_new(128);
        tls_info_describe(s->client, d);
        msg_info("Anonymous TLS connection established from %s: %s", s->namaddr, str_c(d));
        str_free(&d);
    }
    return true;
}

bool smtpd_tls_wrapper_start(struct smtpd_session *s)
{
    if (smtpd_tls_ctx == NULL) {
        msg_warn("TLS wrapper mode: TLS is not available; closing the connection from %s",
                 s->namaddr);
        s->quit = true;
        return false;
    }
    return smtpd_tls_handshake(s);
}

bool smtpd_cmd_starttls(struct smtpd_session *s)
{
    if (tls_active(s->client)) {
        smtpd_reply(s, "554 5.5.1 Error: TLS already active");
        return false;
    }
    if (s->cfg->tls_level == TLS_LEV_NONE) {
        smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        return false;
    }
    if (smtpd_tls_ctx == NULL) {
        smtpd_reply(s, "454 4.7.0 TLS not available due to local problem");
        return false;
    }
    smtpd_reply(s, "220 2.0.0 Ready to start TLS");
    /* Anything sent after STARTTLS in plaintext must never count as sent over TLS. */
    size_t junk = stream_buffered(s->client);
    if (junk > 0)
        msg_info("improper command pipelining after STARTTLS from %s: %zu bytes discarded",
                 s->namaddr, junk);
    stream_discard_input(s->client);
    if (!smtpd_tls_handshake(s))
        return false;
    /* RFC 3207 4.2: forget everything learned before TLS. */
    smtpd_reset(s);
    xfree(s->helo);
    s->esmtp = false;
    smtpd_auth_reset(s);
    return true;
}

const char *smtpd_tls_protocol(const struct smtpd_session *s)
{
    if (!s->esmtp)
        return "SMTP";
    if (s->sasl_username != NULL)
        return tls_active(s->client) ? "ESMTPSA" : "ESMTPA";
    return tls_active(s->client) ? "ESMTPS" : "ESMTP";
}

char *smtpd_tls_received_info(const struct smtpd_session *s)
{
    if (!s->cfg->tls_received_header || !tls_active(s->client))
        return NULL;
    str_t *d = str_new(128);
    tls_info_describe(s->client, d);
    return str_steal(&d);
}

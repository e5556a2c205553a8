/*
 * smtp_sasl.c - AUTH (RFC 4954) from the SMTP client to the next hop,
 * typically a smarthost named in relayhost.
 *
 * With smtp_sasl_auth_enable = yes, credentials "user:password" are
 * looked up in smtp_sasl_password_maps with the next hop as the request
 * names it ("[host]:port"), then "[host]:port" and "host" of the server
 * being talked to, then the next-hop host or domain without port.  No
 * entry, or a server that offers no AUTH: the session goes on without
 * authentication.  PLAIN (with an initial response) is used when
 * offered, else LOGIN.  Both send the password in the clear, so without
 * TLS they are only used when smtp_sasl_security_options lacks
 * "noplaintext" (over TLS: smtp_sasl_tls_security_options); otherwise
 * the delivery defers.  A refused AUTH defers with the server's reply
 * (so mailq shows it), as Postfix does.  The password is never logged:
 * AUTH lines bypass the verbose command log.
 */
#include "smtp.h"

#include <strings.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "sasl.h"
#include "tls.h"

/* Look the credentials up: 1 found (*value_r), 0 none, -1 table error. */
static int sasl_lookup(struct smtp_session *ss, const struct smtp_addr *a, char **value_r,
                       char **error_r)
{
    char *keys[4];
    char *host = NULL;
    unsigned port;
    bool mx;
    size_t n = 0;
    keys[n++] = xstrdup(ss->nexthop);
    keys[n++] = xasprintf("[%s]:%u", a->host, a->port);
    keys[n++] = xstrdup(a->host);
    if (smtp_nexthop_parse(ss->nexthop, &host, &port, &mx) == 0)
        keys[n++] = host;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = resolve_maps_lookup("smtp_sasl_password_maps", keys[i], value_r, error_r);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    return rc;
}

/* Whether a security option list allows plaintext mechanisms. */
static bool plaintext_allowed(bool tls)
{
    char **opts = cfg_list(tls ? "smtp_sasl_tls_security_options" : "smtp_sasl_security_options");
    bool ok = true;
    for (char **o = opts; *o != NULL; o++)
        if (strcasecmp(*o, "noplaintext") == 0)
            ok = false;
    cfg_list_free(&opts);
    return ok;
}

/* Whether the server's AUTH line lists mech. */
static bool mech_offered(const char *list, const char *mech)
{
    size_t n = strlen(mech);
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == n && strncasecmp(p, mech, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Send a line that carries credentials: not through the verbose log. */
static void secret_cmd(struct smtp_session *ss, const char *what, const char *line)
{
    if (log_verbose())
        msg_debug("> %s: %s (credentials not logged)", ss->label, what);
    stream_write(ss->s, line, strlen(line));
    stream_write(ss->s, "\r\n", 2);
}

/* One base64 response of text, sent after a 334 challenge. */
static void send_b64(struct smtp_session *ss, const char *what, const void *text, size_t len)
{
    str_t *b = str_new(128);
    sasl_base64_encode(text, len, b);
    secret_cmd(ss, what, str_c(b));
    explicit_bzero(b->s, b->len);
    str_free(&b);
}

static int auth_reply(struct smtp_session *ss, struct smtp_fail *f)
{
    return smtp_session_reply(ss, "smtp_helo_timeout", "performing SASL authentication", f);
}

/* Run the exchange; 0 authenticated, -1 with f set. */
static int auth_run(struct smtp_session *ss, const char *user, const char *pass, bool plain,
                    struct smtp_fail *f)
{
    if (plain) {
        size_t ul = strlen(user), pl = strlen(pass);
        char *msg = xmalloc(ul + pl + 2);
        msg[0] = '\0';
        memcpy(msg + 1, user, ul);
        msg[1 + ul] = '\0';
        memcpy(msg + 2 + ul, pass, pl);
        str_t *line = str_new(128);
        sasl_base64_encode(msg, ul + pl + 2, line);
        str_t *cmd = str_new(128);
        str_setf(cmd, "AUTH PLAIN %s", str_c(line));
        secret_cmd(ss, "AUTH PLAIN", str_c(cmd));
        explicit_bzero(msg, ul + pl + 2);
        explicit_bzero(line->s, line->len);
        explicit_bzero(cmd->s, cmd->len);
        free(msg);
        str_free(&line);
        str_free(&cmd);
        if (auth_reply(ss, f) < 0)
            return -1;
    } else {
        smtp_session_cmd(ss, "AUTH LOGIN");
        if (auth_reply(ss, f) < 0)
            return -1;
        if (ss->reply.code == 334) {
            send_b64(ss, "user name", user, strlen(user));
            if (auth_reply(ss, f) < 0)
                return -1;
        }
        if (ss->reply.code == 334) {
            send_b64(ss, "password", pass, strlen(pass));
            if (auth_reply(ss, f) < 0)
                return -1;
        }
    }
    if (smtp_reply_class(&ss->reply) == 2)
        return 0;
    if (ss->reply.code == 334) { /* more challenges than PLAIN/LOGIN have */
        secret_cmd(ss, "cancel", "*");
        (void)auth_reply(ss, f);
        ss->broken = true;
    }
    char dsn[16];
    str_lcpy(dsn, ss->reply.enh, sizeof(dsn));
    dsn[0] = '4'; /* an authentication failure defers, as in Postfix */
    smtp_fail_set(f, DELIVER_TEMP, dsn, "SASL authentication failed; server %s said: %s",
                  ss->host_label, str_c(ss->reply.text));
    msg_warn("%s", str_c(f->why));
    return -1;
}

int smtp_sasl_auth(struct smtp_session *ss, const struct smtp_addr *a, struct smtp_fail *f)
{
    if (!cfg_bool("smtp_sasl_auth_enable") || !(ss->features & SMTP_FEAT_AUTH))
        return 0;
    char *value = NULL, *err = NULL;
    int found = sasl_lookup(ss, a, &value, &err);
    if (found < 0) {
        smtp_fail_set(f, DELIVER_TEMP, "4.3.0", "smtp_sasl_password_maps lookup failed: %s", err);
        msg_warn("%s", str_c(f->why));
        free(err);
        return -1;
    }
    if (found == 0)
        return 0;
    int rc = -1;
    size_t len = strlen(value); /* all of it is wiped, split or not */
    char *colon = strchr(value, ':');
    const char *mechs = ss->auth_mechs != NULL ? ss->auth_mechs : "";
    bool plain = mech_offered(mechs, "PLAIN");
    if (colon == NULL) {
        smtp_fail_set(f, DELIVER_TEMP, "4.3.5",
                      "malformed smtp_sasl_password_maps entry for %s: no user:password",
                      ss->host_label);
        msg_warn("%s", str_c(f->why));
    } else if (!plain && !mech_offered(mechs, "LOGIN")) {
        smtp_fail_set(f, DELIVER_TEMP, "4.7.0",
                      "SASL authentication failed; cannot authenticate to server %s: "
                      "no mechanism available (server offers: %s)",
                      ss->host_label, mechs);
        msg_warn("%s", str_c(f->why));
    } else if (!plaintext_allowed(tls_active(ss->s))) {
        smtp_fail_set(f, DELIVER_TEMP, "4.7.0",
                      "SASL authentication failed; cannot authenticate to server %s: "
                      "no mechanism available without TLS (smtp_sasl_security_options)",
                      ss->host_label);
        msg_warn("%s", str_c(f->why));
    } else {
        *colon = '\0';
        rc = auth_run(ss, value, colon + 1, plain, f);
    }
    explicit_bzero(value, len);
    free(value);
    return rc;
}

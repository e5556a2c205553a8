/*
 * smtp_tls.c - STARTTLS in the SMTP client (RFC 3207): the TLS policy
 * of a next hop, the client contexts, the handshake and its outcome.
 *
 * Policy: smtp_tls_policy_maps is looked up with the next hop as the
 * request names it ("[host]:port", "domain:port", "domain"), then with
 * its port dropped ("[host]", "domain"); the value is a level and options
 * (match=name[:name...], protocols=list).  Otherwise
 * smtp_tls_security_level applies.
 *
 * Levels: none never starts TLS.  may starts TLS when the server offers
 * STARTTLS; when the server refuses STARTTLS the session goes on in
 * plaintext, and when the handshake fails (the connection is then
 * unusable) the same address is tried once more without TLS, as
 * Postfix does.  encrypt requires TLS (any certificate); verify and
 * secure require a certificate that chains to smtp_tls_CAfile /
 * smtp_tls_CApath (or the system's store) and names the server: the
 * first match= name, else the MX host name (verify) or the next-hop
 * host (secure).  When what a level requires cannot be had, the
 * session fails with a 4.7.x reason and the next address is tried.
 *
 * Client certificate: smtp_tls_cert_file and smtp_tls_key_file (default:
 * the same file), read as root before the privilege drop, are presented
 * to a server that asks for a certificate (any level that uses TLS).
 *
 * Injection defence: bytes the server sent after its 220 reply to
 * STARTTLS are thrown away before the handshake (tls_client_start
 * discards them; they are logged here), and EHLO is sent again over TLS
 * so nothing learnt in plaintext is trusted.
 */
#include "smtp.h"

#include <arpa/inet.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"

#define SMTP_TLS_CTX_MAX 4

/*
 * The client certificate and key (smtp_tls_cert_file, smtp_tls_key_file),
 * read before the privilege drop since the key may be readable by root
 * only; every context built later loads them from here.  OpenSSL
 * presents the certificate when a server asks for one.
 */
static struct tls_pem_pair client_pem;
static bool client_pem_loaded;
static char *client_pem_error; /* the files could not be read: why */

void smtp_tls_init(void)
{
    const char *cert = cfg_str("smtp_tls_cert_file");
    char *err = NULL;
    if (*cert == '\0')
        return;
    if (tls_pem_pair_read(&client_pem, cert, cfg_str("smtp_tls_key_file"), &err) < 0) {
        msg_warn("cannot load the client certificate: %s", err);
        client_pem_error = err;
        return;
    }
    client_pem_loaded = true;
}

/* Client contexts by protocol list (few distinct lists in practice). */
static struct {
    char *protocols;
    tls_client_t *ctx;
} contexts[SMTP_TLS_CTX_MAX];

void smtp_tls_policy_free(struct smtp_tls_policy *p)
{
    xfree(p->match);
    xfree(p->protocols);
}

/* Parse "level [match=a:b] [protocols=...]" into p; 0 or -1 with *error_r. */
static int policy_parse(const char *text, struct smtp_tls_policy *p, char **error_r)
{
    char *copy = xstrdup(text);
    char *save = NULL;
    int rc = 0;
    char *w = strtok_r(copy, " \t,", &save);
    if (w == NULL || tls_level_parse(w, &p->level) < 0)
        rc = error_set(error_r, "invalid TLS level \"%s\"", w != NULL ? w : "");
    while (rc == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL) {
        if (strncasecmp(w, "match=", 6) == 0) {
            char *end = strchr(w + 6, ':');
            if (end != NULL)
                *end = '\0'; /* only the first name is used */
            xfree(p->match);
            p->match = xstrdup(w + 6);
        } else if (strncasecmp(w, "protocols=", 10) == 0) {
            xfree(p->protocols);
            p->protocols = xstrdup(w + 10);
        } else {
            rc = error_set(error_r, "unknown TLS policy option \"%s\"", w);
        }
    }
    free(copy);
    return rc;
}

/* The next hop without its port: "[host]" or "domain"; NULL if the same. */
static char *nexthop_portless(const char *nexthop)
{
    const char *colon = nexthop[0] == '[' ? strstr(nexthop, "]:") : strrchr(nexthop, ':');
    if (colon == NULL)
        return NULL;
    if (nexthop[0] == '[')
        colon++;
    else if (strchr(nexthop, ':') != colon)
        return NULL;
    return xstrndup(nexthop, (size_t)(colon - nexthop));
}

int smtp_tls_policy_get(const char *nexthop, struct smtp_tls_policy *p, struct smtp_fail *f)
{
    char *value = NULL, *err = NULL, *key2 = nexthop_portless(nexthop);
    memset(p, 0, sizeof(*p));
    int found = resolve_maps_lookup("smtp_tls_policy_maps", nexthop, &value, &err);
    if (found == 0 && key2 != NULL)
        found = resolve_maps_lookup("smtp_tls_policy_maps", key2, &value, &err);
    free(key2);
    int rc = 0;
    if (found < 0) {
        smtp_fail_set(f, DELIVER_TEMP, "4.3.0", "TLS policy lookup for %s failed: %s", nexthop,
                      err);
        rc = -1;
    } else if (found > 0) {
        if (policy_parse(value, p, &err) < 0) {
            smtp_fail_set(f, DELIVER_TEMP, "4.7.5", "TLS policy for %s: %s", nexthop, err);
            rc = -1;
        }
    } else if (tls_level_parse(cfg_str("smtp_tls_security_level"), &p->level) < 0) {
        smtp_fail_set(f, DELIVER_TEMP, "4.7.5", "invalid smtp_tls_security_level \"%s\"",
                      cfg_str("smtp_tls_security_level"));
        rc = -1;
    }
    if (rc < 0) {
        msg_warn("%s", str_c(f->why));
        smtp_tls_policy_free(p);
    }
    free(value);
    free(err);
    return rc;
}

/* The client context for a protocol list; NULL with *error_r. */
static tls_client_t *tls_context(const char *protocols, char **error_r)
{
    size_t i;
    for (i = 0; i < SMTP_TLS_CTX_MAX && contexts[i].ctx != NULL; i++)
        if (strcmp(contexts[i].protocols, protocols) == 0)
            return contexts[i].ctx;
    if (client_pem_error != NULL) {
        error_set(error_r, "cannot load the client certificate: %s", client_pem_error);
        return NULL;
    }
    struct tls_client_settings set = {
        .protocols = protocols,
        .CAfile = cfg_str("smtp_tls_CAfile"),
        .CApath = cfg_str("smtp_tls_CApath"),
        .pem = client_pem_loaded ? &client_pem : NULL,
        .loglevel = (int)cfg_int("smtp_tls_loglevel"),
    };
    tls_client_t *ctx = tls_client_new(&set, error_r);
    if (ctx == NULL)
        return NULL;
    if (i == SMTP_TLS_CTX_MAX) { /* full: replace the last one */
        i = SMTP_TLS_CTX_MAX - 1;
        tls_client_free(&contexts[i].ctx);
        xfree(contexts[i].protocols);
    }
    contexts[i].protocols = xstrdup(protocols);
    contexts[i].ctx = ctx;
    return ctx;
}

void smtp_tls_cleanup(void)
{
    tls_pem_pair_wipe(&client_pem);
    client_pem_loaded = false;
    xfree(client_pem_error);
    for (size_t i = 0; i < SMTP_TLS_CTX_MAX; i++) {
        tls_client_free(&contexts[i].ctx);
        xfree(contexts[i].protocols);
    }
}

/* The name the certificate must carry (and SNI). */
static const char *peer_name(const struct smtp_addr *a, const char *nexthop,
                             const struct smtp_tls_policy *p, char **buf)
{
    bool mx;
    unsigned port;
    if (p->match != NULL && *p->match != '\0')
        return p->match;
    if (p->level == TLS_LEV_SECURE && smtp_nexthop_parse(nexthop, buf, &port, &mx) == 0)
        return *buf;
    return a->host;
}

static void log_outcome(struct smtp_session *ss)
{
    const struct tls_info *i = tls_info(ss->s);
    str_t *d = str_new(128);
    tls_info_describe(ss->s, d);
    msg_info("%s TLS connection established to %s: %s",
             i->peer_verified ? "Trusted"
             : i->peer_cert   ? "Untrusted"
                              : "Anonymous",
             ss->label, str_c(d));
    str_free(&d);
}

/* A failure below what the level requires: fail (takes why), or go on in plaintext. */
static int tls_missing(const struct smtp_tls_policy *p, struct smtp_fail *f, char *why)
{
    int rc = 0;
    if (p->level != TLS_LEV_MAY) {
        smtp_fail_set(f, DELIVER_TEMP, "4.7.4", "%s", why);
        msg_info("%s", why);
        rc = -1;
    }
    free(why);
    return rc;
}

int smtp_tls_start(struct smtp_session *ss, const struct smtp_addr *a,
                   const struct smtp_tls_policy *p, struct smtp_fail *f)
{
    if (p->level == TLS_LEV_NONE)
        return 0;
    if (!(ss->features & SMTP_FEAT_STARTTLS))
        return tls_missing(
            p, f, xasprintf("TLS is required, but was not offered by host %s", ss->host_label));
    bool mandatory = p->level >= TLS_LEV_ENCRYPT;
    const char *protocols = p->protocols != NULL ? p->protocols
                            : mandatory          ? cfg_str("smtp_tls_mandatory_protocols")
                                                 : cfg_str("smtp_tls_protocols");
    char *err = NULL, *buf = NULL;
    tls_client_t *ctx = tls_context(protocols, &err);
    if (ctx == NULL) {
        msg_warn("cannot set up TLS for %s: %s", ss->label, err);
        free(err);
        if (p->level == TLS_LEV_MAY)
            return 0;
        smtp_fail_set(f, DELIVER_TEMP, "4.7.5",
                      "TLS is required, but our TLS engine is unavailable");
        return -1;
    }
    smtp_session_cmd(ss, "STARTTLS");
    if (smtp_session_reply(ss, "smtp_helo_timeout", "sending STARTTLS", f) < 0)
        return -1;
    if (smtp_reply_class(&ss->reply) != 2)
        return tls_missing(p, f,
                           xasprintf("TLS is required, but host %s refused to start TLS: %s",
                                     ss->host_label, str_c(ss->reply.text)));
    size_t extra = stream_buffered(ss->s);
    if (extra > 0)
        msg_warn("%s: discarding %zu bytes the server sent after its reply to STARTTLS", ss->label,
                 extra);
    const char *name = peer_name(a, ss->nexthop, p, &buf);
    int rc = tls_client_start(ss->s, ctx, name, p->level, &err);
    free(buf);
    if (rc < 0) {
        ss->broken = true; /* nothing more can be said on this connection */
        if (p->level >= TLS_LEV_VERIFY && strstr(err, "not verified") != NULL)
            smtp_fail_set(f, DELIVER_TEMP, "4.7.5", "certificate verification failed for %s: %s",
                          ss->label, err);
        else
            smtp_fail_set(f, DELIVER_TEMP, "4.7.5",
                          "Cannot start TLS: handshake failure with %s: %s", ss->label, err);
        msg_info("%s", str_c(f->why));
        free(err);
        return p->level == TLS_LEV_MAY ? SMTP_TLS_RETRY_PLAIN : -1;
    }
    if (cfg_int("smtp_tls_loglevel") >= 1)
        log_outcome(ss);
    return smtp_session_ehlo(ss, f);
}

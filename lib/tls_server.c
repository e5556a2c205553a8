/*
 * tls_server.c - TLS server contexts: keys and certificate chains (RSA
 * and ECDSA side by side), protocol and cipher policy, automatic ECDH/DH
 * groups, shared session ticket keys, and the server handshake.
 */
#include "tls.h"

#include <pwd.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "mem.h"

#define TLS_SESSION_ID_CONTEXT "tern-smtpd"

struct tls_server {
    SSL_CTX *ctx;
    tls_ticket_keys_t *tickets;
    int loglevel;
};

static int tls_server_load_keys(SSL_CTX *ctx, const struct tls_server_settings *set, char **error_r)
{
    if (set->chain_files != NULL && set->chain_files[0] != NULL) {
        for (const char *const *f = set->chain_files; *f != NULL; f++)
            if (tls_ctx_load_pair(ctx, *f, *f, error_r) < 0)
                return -1;
        return 0;
    }
    if (set->cert_file == NULL || *set->cert_file == '\0')
        return error_set(error_r, "no server certificate configured");
    return tls_ctx_load_pair(ctx, set->cert_file, set->key_file, error_r);
}

static int tls_server_sessions(tls_server_t *srv, const struct tls_server_settings *set,
                               char **error_r)
{
    SSL_CTX *ctx = srv->ctx;
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                   sizeof(TLS_SESSION_ID_CONTEXT) - 1);
    /* One client per process: a per-process session cache would not help. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (set->ticket_lifetime <= 0) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        return 0;
    }
    srv->tickets = tls_ticket_open(set->ticket_key_file, set->ticket_lifetime,
                                   set->ticket_key_file ? set->ticket_key_uid : -1,
                                   set->ticket_key_gid, error_r);
    if (srv->tickets == NULL)
        return -1;
    SSL_CTX_set_timeout(ctx, set->ticket_lifetime);
    SSL_CTX_set_num_tickets(ctx, 1);
    tls_ticket_install(ctx, srv->tickets);
    return 0;
}

tls_server_t *tls_server_new(const struct tls_server_settings *set, char **error_r)
{
    tls_server_t *srv = xcalloc(1, sizeof(*srv));
    srv->loglevel = set->loglevel;
    ERR_clear_error();
    srv->ctx = SSL_CTX_new(TLS_server_method());
    if (srv->ctx == NULL) {
        char *e = tls_error_text("cannot make a TLS server context: ");
        error_set(error_r, "%s", e);
        free(e);
        free(srv);
        return NULL;
    }
    SSL_CTX_set_options(srv->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_dh_auto(srv->ctx, 1); /* ECDHE groups are automatic in OpenSSL 3 */
    if (tls_ctx_common(srv->ctx, set->protocols, set->cipherlist, error_r) < 0 ||
        tls_server_load_keys(srv->ctx, set, error_r) < 0 ||
        tls_server_sessions(srv, set, error_r) < 0) {
        tls_server_free(&srv);
        return NULL;
    }
    return srv;
}

void tls_server_free(tls_server_t **sp)
{
    tls_server_t *srv = *sp;
    if (srv == NULL)
        return;
    SSL_CTX_free(srv->ctx);
    tls_ticket_free(&srv->tickets);
    xfree(*sp);
}

int tls_server_start(stream_t *s, tls_server_t *srv, char **error_r)
{
    if (tls_active(s))
        msg_panic("tls_server_start: TLS is already active on this stream");
    ERR_clear_error();
    SSL *ssl = SSL_new(srv->ctx);
    if (ssl == NULL) {
        char *e = tls_error_text("SSL_new: ");
        error_set(error_r, "%s", e);
        free(e);
        return -1;
    }
    return tls_conn_start(s, ssl, true, srv->loglevel, error_r);
}

/* ---- from main.cf ------------------------------------------------------ */

static char *tls_server_cipherlist(bool mandatory, char **error_r)
{
    const char *param = mandatory ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers";
    const char *grade = cfg_str(param);
    const char *list;
    if (strcasecmp(grade, "high") == 0)
        list = cfg_str("tls_high_cipherlist");
    else if (strcasecmp(grade, "medium") == 0)
        list = cfg_str("tls_medium_cipherlist");
    else {
        error_set(error_r, "%s = %s: use high or medium", param, grade);
        return NULL;
    }
    str_t *s = str_new(128);
    (void)str_appendz(s, list);
    char **excl = cfg_list("smtpd_tls_exclude_ciphers");
    for (char **e = excl; *e != NULL; e++)
        (void)str_appendf(s, ":!%s", *e);
    cfg_list_free(&excl);
    return str_steal(&s);
}

tls_server_t *tls_server_from_config(bool mandatory, char **error_r)
{
    char *ciphers = tls_server_cipherlist(mandatory, error_r);
    if (ciphers == NULL)
        return NULL;
    char **chain = cfg_list("smtpd_tls_chain_files");
    char *ticket_file = xasprintf("%s/private/tls_ticket_keys", cfg_str("queue_directory"));
    struct passwd *pw = getuid() == 0 ? getpwnam(cfg_str("mail_owner")) : NULL;
    struct tls_server_settings set = {
        .cert_file = cfg_str("smtpd_tls_cert_file"),
        .key_file = cfg_str("smtpd_tls_key_file"),
        .chain_files = (const char *const *)chain,
        .protocols = cfg_str(mandatory ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols"),
        .cipherlist = ciphers,
        .ticket_key_file = ticket_file,
        .ticket_key_uid = pw ? (long)pw->pw_uid : -1,
        .ticket_key_gid = pw ? (long)pw->pw_gid : -1,
        .ticket_lifetime = (int)cfg_time("smtpd_tls_session_cache_timeout"),
        .loglevel = (int)cfg_int("smtpd_tls_loglevel"),
    };
    char *err = NULL;
    tls_server_t *srv = NULL;
    if (chain[0] == NULL && set.cert_file[0] == '\0')
        error_set(&err, "no certificate: set smtpd_tls_cert_file (and smtpd_tls_key_file) or "
                        "smtpd_tls_chain_files");
    else
        srv = tls_server_new(&set, &err);
    if (srv == NULL) {
        error_set(error_r, "%s", err);
        free(err);
    }
    free(ticket_file);
    free(ciphers);
    cfg_list_free(&chain);
    return srv;
}

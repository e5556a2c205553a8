/*
 * tls_server.c - TLS server contexts: keys and certificate chains (RSA
 * and ECDSA side by side), protocol and cipher policy, automatic ECDH/DH
 * groups, shared session ticket keys, and the server handshake.
 *
 * The files are read into memory when the context object is made (as
 * root, before the privilege drop); the OpenSSL context is built from
 * that memory, at once or (lazy) at the first handshake, and the key text
 * is wiped as soon as the context holds the key.  An SMTP server process
 * that never sees STARTTLS thus carries neither OpenSSL's context nor
 * the library state it drags in (some 400 KiB of heap per process).
 */
#include "tls.h"

#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "priv.h"

#define TLS_SESSION_ID_CONTEXT "tern-smtpd"

struct tls_server {
    SSL_CTX *ctx; /* NULL until built */
    tls_ticket_keys_t *tickets;
    int loglevel;
    /* What the build needs; the key texts are wiped once it is done. */
    struct tls_pem_pair *pems;
    size_t npems;
    char *protocols, *cipherlist;
    int ticket_lifetime;
};

static void tls_server_wipe_pems(tls_server_t *srv)
{
    for (size_t i = 0; i < srv->npems; i++)
        tls_pem_pair_wipe(&srv->pems[i]);
    xfree(srv->pems);
    srv->npems = 0;
}

/* Read the key and certificate files into memory (before the privilege drop). */
static int tls_server_read_keys(tls_server_t *srv, const struct tls_server_settings *set,
                                char **error_r)
{
    size_t n = 0;
    if (set->chain_files != NULL)
        while (set->chain_files[n] != NULL)
            n++;
    if (n == 0 && (set->cert_file == NULL || *set->cert_file == '\0')) {
        if (set->pem == NULL)
            return error_set(error_r, "no server certificate configured");
        srv->pems = xcalloc(1, sizeof(*srv->pems));
        tls_pem_pair_copy(&srv->pems[0], set->pem);
        srv->npems = 1;
        return 0;
    }
    srv->pems = xcalloc(n > 0 ? n : 1, sizeof(*srv->pems));
    for (size_t i = 0; i < (n > 0 ? n : 1); i++) {
        const char *cert = n > 0 ? set->chain_files[i] : set->cert_file;
        const char *key = n > 0 ? set->chain_files[i] : set->key_file;
        if (tls_pem_pair_read(&srv->pems[i], cert, key, error_r) < 0)
            return -1;
        srv->npems = i + 1;
    }
    return 0;
}

static int tls_server_sessions(tls_server_t *srv, char **error_r)
{
    SSL_CTX *ctx = srv->ctx;
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                   sizeof(TLS_SESSION_ID_CONTEXT) - 1);
    /* One client per process: a per-process session cache would not help. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (srv->tickets == NULL) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        return 0;
    }
    SSL_CTX_set_timeout(ctx, srv->ticket_lifetime);
    SSL_CTX_set_num_tickets(ctx, 1);
    return tls_ticket_install(ctx, srv->tickets, error_r);
}

int tls_server_build(tls_server_t *srv, char **error_r)
{
    if (srv->ctx != NULL)
        return 0;
    ERR_clear_error();
    srv->ctx = SSL_CTX_new(TLS_server_method());
    if (srv->ctx == NULL) {
        char *e = tls_error_text("cannot make a TLS server context: ");
        error_set(error_r, "%s", e);
        free(e);
        return -1;
    }
    SSL_CTX_set_options(srv->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_dh_auto(srv->ctx, 1); /* ECDHE groups are automatic in OpenSSL 3 */
    int rc = tls_ctx_common(srv->ctx, srv->protocols, srv->cipherlist, error_r);
    for (size_t i = 0; rc == 0 && i < srv->npems; i++)
        rc = tls_ctx_load_pem(srv->ctx, &srv->pems[i], error_r);
    if (rc == 0)
        rc = tls_server_sessions(srv, error_r);
    if (rc < 0) {
        SSL_CTX_free(srv->ctx);
        srv->ctx = NULL;
        return -1;
    }
    tls_server_wipe_pems(srv); /* the context has the key now */
    return 0;
}

bool tls_server_built(const tls_server_t *srv)
{
    return srv->ctx != NULL;
}

/* The child of tls_server_check: build, and say why not on fd. */
static void tls_server_check_child(tls_server_t *srv, const char *drop_user, int fd)
{
    char *err = NULL;
    int rc = 0;
    if (drop_user != NULL && geteuid() == 0)
        rc = priv_drop(drop_user, NULL, &err);
    if (rc == 0)
        rc = tls_server_build(srv, &err);
    if (rc < 0 && err != NULL) {
        size_t len = strlen(err), off = 0;
        while (off < len) {
            ssize_t n = write(fd, err + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
    }
    _exit(rc == 0 ? 0 : 1);
}

int tls_server_check(tls_server_t *srv, const char *drop_user, char **error_r)
{
    if (srv->ctx != NULL)
        return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return error_set(error_r, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return error_set(error_r, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        tls_server_check_child(srv, drop_user, p[1]);
    }
    close(p[1]);
    char why[1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(p[0], why + got, sizeof(why) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(why) - 1)
            break;
    }
    why[got] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return error_set(error_r, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (got > 0)
        return error_set(error_r, "%s", why);
    return error_set(error_r, "the TLS context check failed (status 0x%x)", (unsigned)status);
}

tls_server_t *tls_server_new(const struct tls_server_settings *set, char **error_r)
{
    tls_server_t *srv = xcalloc(1, sizeof(*srv));
    srv->loglevel = set->loglevel;
    srv->protocols = set->protocols ? xstrdup(set->protocols) : NULL;
    srv->cipherlist = set->cipherlist ? xstrdup(set->cipherlist) : NULL;
    srv->ticket_lifetime = set->ticket_lifetime;
    int rc = tls_server_read_keys(srv, set, error_r);
    if (rc == 0 && set->ticket_lifetime > 0) {
        srv->tickets = tls_ticket_open(set->ticket_key_file, set->ticket_lifetime,
                                       set->ticket_key_file ? set->ticket_key_uid : -1,
                                       set->ticket_key_gid, error_r);
        rc = srv->tickets == NULL ? -1 : 0;
    }
    if (rc == 0 && !set->lazy)
        rc = tls_server_build(srv, error_r);
    if (rc < 0)
        tls_server_free(&srv);
    return srv;
}

void tls_server_free(tls_server_t **sp)
{
    tls_server_t *srv = *sp;
    if (srv == NULL)
        return;
    SSL_CTX_free(srv->ctx);
    tls_ticket_free(&srv->tickets);
    tls_server_wipe_pems(srv);
    free(srv->protocols);
    free(srv->cipherlist);
    xfree(*sp);
}

int tls_server_start(stream_t *s, tls_server_t *srv, char **error_r)
{
    if (tls_active(s))
        msg_panic("tls_server_start: TLS is already active on this stream");
    if (tls_server_build(srv, error_r) < 0)
        return -1;
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

tls_server_t *tls_server_from_config(bool mandatory, bool lazy, char **error_r)
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
        .lazy = lazy,
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

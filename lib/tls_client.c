/*
 * tls_client.c - TLS client contexts and the client handshake (for the
 * SMTP client's STARTTLS): trust anchors, optional client certificate,
 * SNI, and the verify/secure levels' rule that an untrusted or
 * mismatched server certificate ends the handshake.  Below those levels
 * the result of verification is only recorded (tls_info) for the log.
 */
#include "tls.h"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mem.h"

struct tls_client {
    SSL_CTX *ctx;
    int loglevel;
};

static int tls_client_trust(SSL_CTX *ctx, const struct tls_client_settings *set, char **error_r)
{
    const char *file = set->CAfile && *set->CAfile ? set->CAfile : NULL;
    const char *path = set->CApath && *set->CApath ? set->CApath : NULL;
    int ok = file || path ? SSL_CTX_load_verify_locations(ctx, file, path)
                          : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char *e = tls_error_text("");
        error_set(error_r, "cannot load trust anchors %s%s%s: %s", file ? file : "",
                  file && path ? " " : "", path ? path : "", e);
        free(e);
        return -1;
    }
    return 0;
}

tls_client_t *tls_client_new(const struct tls_client_settings *set, char **error_r)
{
    tls_client_t *c = xcalloc(1, sizeof(*c));
    c->loglevel = set->loglevel;
    ERR_clear_error();
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        char *e = tls_error_text("cannot make a TLS client context: ");
        error_set(error_r, "%s", e);
        free(e);
        free(c);
        return NULL;
    }
    /* Verification is judged after the handshake, per level. */
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (tls_ctx_common(c->ctx, set->protocols, set->cipherlist, error_r) < 0 ||
        tls_client_trust(c->ctx, set, error_r) < 0 ||
        (set->cert_file && *set->cert_file &&
         tls_ctx_load_pair(c->ctx, set->cert_file, set->key_file, error_r) < 0) ||
        ((!set->cert_file || !*set->cert_file) && set->pem != NULL &&
         tls_ctx_load_pem(c->ctx, set->pem, error_r) < 0)) {
        tls_client_free(&c);
        return NULL;
    }
    return c;
}

void tls_client_free(tls_client_t **cp)
{
    tls_client_t *c = *cp;
    if (c == NULL)
        return;
    SSL_CTX_free(c->ctx);
    xfree(*cp);
}

static bool tls_is_ip(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* SNI and the name the certificate must carry. */
static int tls_client_peername(SSL *ssl, const char *peername)
{
    if (peername == NULL || *peername == '\0')
        return 0;
    if (tls_is_ip(peername)) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        return X509_VERIFY_PARAM_set1_ip_asc(vp, peername) == 1 ? 0 : -1;
    }
    if (SSL_set_tlsext_host_name(ssl, peername) != 1 || SSL_set1_host(ssl, peername) != 1)
        return -1;
    return 0;
}

int tls_client_start(stream_t *s, tls_client_t *c, const char *peername, enum tls_level level,
                     char **error_r)
{
    if (tls_active(s))
        msg_panic("tls_client_start: TLS is already active on this stream");
    ERR_clear_error();
    SSL *ssl = SSL_new(c->ctx);
    if (ssl == NULL || tls_client_peername(ssl, peername) < 0) {
        char *e = tls_error_text("cannot set up the TLS client: ");
        error_set(error_r, "%s", e);
        free(e);
        SSL_free(ssl);
        return -1;
    }
    SSL_set_connect_state(ssl);
    if (tls_conn_start(s, ssl, false, c->loglevel, error_r) < 0)
        return -1;
    const struct tls_info *i = tls_info(s);
    if (level >= TLS_LEV_VERIFY && !i->peer_verified) {
        error_set(error_r, "server certificate not verified: %s",
                  i->peer_cert ? i->verify_error : "no certificate presented");
        stream_set_layer(s, NULL, NULL); /* sends close_notify */
        return -1;
    }
    return 0;
}

/*
 * tls.c - the TLS stream layer and what server and client share: the
 * handshake loop with deadlines, SSL_read/SSL_write under the stream's
 * deadlines, tls_info, protocol version lists, common context options
 * and OpenSSL error text.
 */
#include "tls.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mem.h"

struct tls_conn {
    SSL *ssl;
    struct tls_info info;
    char protocol[32], cipher[96], peer_cn[256], verify_error[128];
};

int tls_level_parse(const char *text, enum tls_level *level_r)
{
    static const struct {
        const char *name;
        enum tls_level level;
    } names[] = {
        {"", TLS_LEV_NONE},           {"none", TLS_LEV_NONE},     {"may", TLS_LEV_MAY},
        {"encrypt", TLS_LEV_ENCRYPT}, {"verify", TLS_LEV_VERIFY}, {"secure", TLS_LEV_SECURE},
    };
    for (size_t i = 0; i < N_ELEMENTS(names); i++)
        if (strcasecmp(text, names[i].name) == 0) {
            *level_r = names[i].level;
            return 0;
        }
    return -1;
}

char *tls_error_text(const char *prefix)
{
    str_t *s = str_new(128);
    (void)str_appendz(s, prefix);
    unsigned long e;
    const char *sep = "";
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        (void)str_appendf(s, "%s%s", sep, buf);
        sep = "; ";
    }
    return str_steal(&s);
}

void tls_load_config(void)
{
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        char *e = tls_error_text("");
        msg_warn("cannot load the OpenSSL configuration: %s", e);
        free(e);
    }
}

/* ---- protocol versions ---------------------------------------------- */

static const struct {
    const char *name;
    int version;
    uint64_t no_op;
} tls_protos[] = {
    {"SSLv2", 0, 0},
    {"SSLv3", SSL3_VERSION, SSL_OP_NO_SSLv3},
    {"TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1},
    {"TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {"TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {"TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
};
#define TLS_NPROTOS N_ELEMENTS(tls_protos)
#define TLS_FIRST_USABLE 2 /* TLSv1: SSLv2/SSLv3 are never enabled */

static int tls_proto_index(const char *name, size_t len)
{
    for (size_t i = 0; i < TLS_NPROTOS; i++)
        if (strlen(tls_protos[i].name) == len && strncasecmp(name, tls_protos[i].name, len) == 0)
            return (int)i;
    return -1;
}

/* Apply one list item to the enabled set; -1 for an unknown name. */
static int tls_proto_item(const char *item, size_t len, bool *incl, bool *excl, int *lo, int *hi,
                          bool *any_incl)
{
    int kind = 0; /* 0 include, 1 exclude, 2 >=, 3 <= */
    if (len >= 1 && item[0] == '!')
        kind = 1, item++, len--;
    else if (len >= 2 && strncmp(item, ">=", 2) == 0)
        kind = 2, item += 2, len -= 2;
    else if (len >= 2 && strncmp(item, "<=", 2) == 0)
        kind = 3, item += 2, len -= 2;
    int i = tls_proto_index(item, len);
    if (i < 0)
        return -1;
    if (kind == 0)
        incl[i] = *any_incl = true;
    else if (kind == 1)
        excl[i] = true;
    else if (kind == 2)
        *lo = i > *lo ? i : *lo;
    else
        *hi = i < *hi ? i : *hi;
    return 0;
}

int tls_protocols_parse(const char *text, int *min_r, int *max_r, uint64_t *no_ops_r,
                        char **error_r)
{
    bool incl[TLS_NPROTOS] = {false}, excl[TLS_NPROTOS] = {false}, any_incl = false;
    int lo = TLS_FIRST_USABLE, hi = (int)TLS_NPROTOS - 1;
    const char *seps = ", \t:";
    for (const char *p = text; *p != '\0';) {
        size_t skip = strspn(p, seps);
        p += skip;
        size_t len = strcspn(p, seps);
        if (len == 0)
            break;
        if (tls_proto_item(p, len, incl, excl, &lo, &hi, &any_incl) < 0)
            return error_set(error_r, "unknown TLS protocol \"%.*s\" in \"%s\"", (int)len, p, text);
        p += len;
    }
    int min = -1, max = -1;
    uint64_t ops = 0;
    for (int i = TLS_FIRST_USABLE; i < (int)TLS_NPROTOS; i++) {
        bool on = i >= lo && i <= hi && !excl[i] && (!any_incl || incl[i]);
        if (on) {
            min = min < 0 ? i : min;
            max = i;
        } else
            ops |= tls_protos[i].no_op;
    }
    if (min < 0)
        return error_set(error_r, "\"%s\" leaves no TLS protocol version enabled", text);
    *min_r = tls_protos[min].version;
    *max_r = tls_protos[max].version;
    *no_ops_r = ops;
    return 0;
}

int tls_ctx_common(SSL_CTX *ctx, const char *protocols, const char *cipherlist, char **error_r)
{
    int min, max;
    uint64_t no_ops;
    if (tls_protocols_parse(protocols ? protocols : ">=TLSv1.2", &min, &max, &no_ops, error_r) < 0)
        return -1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | no_ops);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        char *e = tls_error_text("cannot set the TLS protocol range: ");
        error_set(error_r, "%s", e);
        free(e);
        return -1;
    }
    if (cipherlist != NULL && *cipherlist != '\0' &&
        SSL_CTX_set_cipher_list(ctx, cipherlist) != 1) {
        char *e = tls_error_text("");
        error_set(error_r, "bad cipher list \"%s\": %s", cipherlist, e);
        free(e);
        return -1;
    }
    return 0;
}

/* ---- loading keys and certificates ----------------------------------- */

/* PEM text from a file, or from memory (name is then only for messages). */
static BIO *tls_open_pem(const char *path, const struct tls_pem_text *text, char **error_r)
{
    if (text != NULL)
        return BIO_new_mem_buf(text->data, (int)text->len);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        error_set(error_r, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    return BIO_new_fp(f, BIO_CLOSE);
}

static int tls_read_certs(const char *path, const struct tls_pem_text *text, X509 **leaf_r,
                          STACK_OF(X509) * *chain_r, char **error_r)
{
    BIO *b = tls_open_pem(path, text, error_r);
    if (b == NULL)
        return -1;
    *leaf_r = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (*leaf_r == NULL) {
        BIO_free(b);
        char *e = tls_error_text("");
        error_set(error_r, "%s: no certificate found (%s)", path, e);
        free(e);
        return -1;
    }
    *chain_r = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(*chain_r, x);
    ERR_clear_error(); /* the end of the file */
    BIO_free(b);
    return 0;
}

static EVP_PKEY *tls_read_key(const char *path, const struct tls_pem_text *text, char **error_r)
{
    BIO *b = tls_open_pem(path, text, error_r);
    if (b == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL) {
        char *e = tls_error_text("");
        error_set(error_r, "%s: no private key found (%s)", path, e);
        free(e);
    }
    return k;
}

/* Files when the texts are NULL, else the texts (the names for messages). */
static int tls_ctx_load(SSL_CTX *ctx, const char *cert_file, const struct tls_pem_text *cert,
                        const char *key_file, const struct tls_pem_text *key, char **error_r)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = -1;
    if (tls_read_certs(cert_file, cert, &leaf, &chain, error_r) < 0)
        goto out;
    if ((pkey = tls_read_key(key_file, key, error_r)) == NULL)
        goto out;
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        error_set(error_r, "the private key in %s does not match the certificate in %s", key_file,
                  cert_file);
        goto out;
    }
    if (SSL_CTX_use_cert_and_key(ctx, leaf, pkey, chain, 1) != 1) {
        char *e = tls_error_text("");
        error_set(error_r, "cannot use the key and certificate in %s: %s", cert_file, e);
        free(e);
        goto out;
    }
    rc = 0;
out:
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(pkey);
    return rc;
}

int tls_ctx_load_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file, char **error_r)
{
    if (key_file == NULL || *key_file == '\0')
        key_file = cert_file;
    return tls_ctx_load(ctx, cert_file, NULL, key_file, NULL, error_r);
}

int tls_ctx_load_pem(SSL_CTX *ctx, const struct tls_pem_pair *p, char **error_r)
{
    return tls_ctx_load(ctx, p->cert_file, &p->cert, p->key_file, &p->key, error_r);
}

/* ---- the stream layer ------------------------------------------------- */

/* Wait as SSL asked; -1 (errno set) on timeout or poll error. */
static int tls_wait(int fd, int err, int64_t deadline)
{
    return stream_wait_fd(fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline);
}

/* After a failed SSL call: 1 retry, 0 end of input, -1 error (errno set). */
static int tls_io_error(SSL *ssl, int ret, int fd, int64_t deadline)
{
    int err = SSL_get_error(ssl, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return tls_wait(fd, err, deadline) < 0 ? -1 : 1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR)
            return 1;
        if (errno == 0)
            errno = ECONNRESET;
        ERR_clear_error();
        return -1;
    default:
        if (log_verbose()) {
            char *e = tls_error_text("TLS error: ");
            msg_debug("%s", e);
            free(e);
        }
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static ssize_t tls_layer_read(void *ctx, int fd, void *buf, size_t len, int64_t deadline)
{
    struct tls_conn *c = ctx;
    int want = len > INT_MAX ? INT_MAX : (int)len;
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, want);
        if (n > 0)
            return n;
        int r = tls_io_error(c->ssl, n, fd, deadline);
        if (r <= 0)
            return r;
    }
}

static ssize_t tls_layer_write(void *ctx, int fd, const void *buf, size_t len, int64_t deadline)
{
    struct tls_conn *c = ctx;
    int want = len > INT_MAX ? INT_MAX : (int)len;
    for (;;) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, buf, want);
        if (n > 0)
            return n;
        int r = tls_io_error(c->ssl, n, fd, deadline);
        if (r == 0) {
            errno = EPIPE;
            return -1;
        }
        if (r < 0)
            return -1;
    }
}

static void tls_layer_free(void *ctx)
{
    struct tls_conn *c = ctx;
    /* One try at close_notify; the socket is non-blocking, never wait. */
    if (!(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
        (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    SSL_free(c->ssl);
    free(c);
}

static const struct stream_layer tls_layer = {
    .read = tls_layer_read,
    .write = tls_layer_write,
    .free = tls_layer_free,
};

static struct tls_conn *tls_conn_of(const stream_t *s)
{
    return stream_get_layer(s) == &tls_layer ? stream_layer_ctx(s) : NULL;
}

const struct tls_info *tls_info(const stream_t *s)
{
    struct tls_conn *c = tls_conn_of(s);
    return c != NULL ? &c->info : NULL;
}

bool tls_active(const stream_t *s)
{
    return tls_conn_of(s) != NULL;
}

void tls_info_describe(const stream_t *s, str_t *out)
{
    const struct tls_info *i = tls_info(s);
    if (i != NULL)
        (void)str_appendf(out, "%s with cipher %s (%d/%d bits)", i->protocol, i->cipher,
                          i->cipher_bits, i->cipher_alg_bits);
}

static void tls_conn_fill_info(struct tls_conn *c)
{
    SSL *ssl = c->ssl;
    const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
    str_lcpy(c->protocol, SSL_get_version(ssl), sizeof(c->protocol));
    str_lcpy(c->cipher, ci ? SSL_CIPHER_get_name(ci) : "unknown", sizeof(c->cipher));
    c->info.protocol = c->protocol;
    c->info.cipher = c->cipher;
    c->info.cipher_bits = ci ? SSL_CIPHER_get_bits(ci, &c->info.cipher_alg_bits) : 0;
    c->info.resumed = SSL_session_reused(ssl) == 1;
    c->info.peer_cn = c->peer_cn;
    c->info.verify_error = c->verify_error;
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer != NULL) {
        c->info.peer_cert = true;
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->peer_cn,
                                  sizeof(c->peer_cn));
        long v = SSL_get_verify_result(ssl);
        c->info.peer_verified = v == X509_V_OK;
        if (v != X509_V_OK)
            str_lcpy(c->verify_error, X509_verify_cert_error_string(v), sizeof(c->verify_error));
        X509_free(peer);
    }
}

static int tls_handshake(SSL *ssl, int fd, bool server, int64_t deadline, char **error_r)
{
    const char *what = server ? "SSL_accept" : "SSL_connect";
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(ssl);
        if (r == 1)
            return 0;
        int err = SSL_get_error(ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (tls_wait(fd, err, deadline) == 0)
                continue;
            return error_set(error_r, "%s error: %s", what,
                             errno == ETIMEDOUT ? "timeout" : strerror(errno));
        }
        if (err == SSL_ERROR_SYSCALL && errno == EINTR)
            continue;
        if (ERR_peek_error() == 0) {
            int e = errno;
            return error_set(error_r, "%s error: %s", what,
                             e == 0 ? "lost connection" : strerror(e));
        }
        char *e = tls_error_text("");
        error_set(error_r, "%s error: %s", what, e);
        free(e);
        return -1;
    }
}

int tls_conn_start(stream_t *s, SSL *ssl, bool server, int loglevel, char **error_r)
{
    int fd = stream_fd(s);
    int st = stream_flush(s);
    if (st != STREAM_OK) {
        SSL_free(ssl);
        return error_set(error_r, "%s before the TLS handshake", stream_strstatus(st));
    }
    stream_discard_input(s);
    /* Our stream writes whole replies, flushed only before a read; without
     * this, a short write just after the handshake's last flight (the smtps
     * greeting after the session ticket) waits for the peer's delayed ACK. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on AF_UNIX */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return error_set(error_r, "cannot set up TLS on descriptor %d", fd);
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    int ms = stream_get_timeout_ms(s);
    int64_t deadline = ms > 0 ? stream_now_ms() + ms : -1;
    if (tls_handshake(ssl, fd, server, deadline, error_r) < 0) {
        SSL_free(ssl);
        return -1;
    }
    struct tls_conn *c = xcalloc(1, sizeof(*c));
    c->ssl = ssl;
    tls_conn_fill_info(c);
    if (loglevel >= 2)
        msg_info("TLS handshake done: %s with cipher %s%s", c->protocol, c->cipher,
                 c->info.resumed ? " (session reused)" : "");
    stream_set_layer(s, &tls_layer, c);
    return 0;
}

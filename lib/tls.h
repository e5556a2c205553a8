/*
 * tls.h - TLS on OpenSSL 3 under the buffered stream (stream.h).
 *
 * A server or client context is built once per process (from explicit
 * settings, or for smtpd from the smtpd_tls_* parameters); then
 * tls_server_start() / tls_client_start() run the handshake on a
 * connected stream, within the stream's timeout, and push a stream layer
 * so that every later stream_read_line/stream_write goes through TLS
 * with no change in the caller.  Plaintext the peer sent before the
 * handshake (still in the stream's input buffer) is thrown away first:
 * it must never be taken as if it had arrived over TLS.
 *
 * Session resumption: tickets, encrypted with a key that every process
 * of the service shares through a small key file (see tls_ticket.c);
 * the key is replaced when older than the ticket lifetime, and the
 * previous key still decrypts (and renews) tickets for one more period.
 *
 * tls_info() says what was negotiated, for logs and Received: headers.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include "sys.h"
#include "str.h"
#include "stream.h"

/* smtpd_tls_security_level / smtp_tls_security_level. */
enum tls_level {
    TLS_LEV_NONE,
    TLS_LEV_MAY,
    TLS_LEV_ENCRYPT,
    TLS_LEV_VERIFY, /* client: trusted chain and matching name */
    TLS_LEV_SECURE, /* client: as verify (no DANE distinction yet) */
};
/* "" and "none" -> NONE, "may", "encrypt", "verify", "secure"; -1 otherwise. */
int tls_level_parse(const char *text, enum tls_level *level_r);

/* What a handshake produced (valid while the stream has the TLS layer). */
struct tls_info {
    const char *protocol;     /* "TLSv1.3" */
    const char *cipher;       /* "TLS_AES_256_GCM_SHA384" */
    int cipher_bits;          /* bits used */
    int cipher_alg_bits;      /* bits the algorithm has */
    bool resumed;             /* session resumed (ticket) */
    bool peer_cert;           /* the peer presented a certificate */
    bool peer_verified;       /* its chain is trusted (and the name matched, if asked) */
    const char *peer_cn;      /* subject CN of the peer certificate, or "" */
    const char *verify_error; /* why not verified, or "" */
};

/*
 * Initialise OpenSSL and read its configuration file (openssl.cnf) now.
 * A process that builds a context lazily after chroot calls this before
 * the chroot, which would hide the file (it costs some 100 KiB of heap).
 */
void tls_load_config(void);

/* NULL when the stream does not run over TLS. */
const struct tls_info *tls_info(const stream_t *s);
bool tls_active(const stream_t *s);
/* Append "TLSv1.3 with cipher X (256/256 bits)" (nothing without TLS). */
void tls_info_describe(const stream_t *s, str_t *out);

/*
 * Protocol version lists, Postfix syntax: ">=TLSv1.2", "<=TLSv1.3",
 * "TLSv1.2, TLSv1.3" (only these) or "!SSLv2, !SSLv3, !TLSv1" (all but
 * these); separated by commas, colons or white space.  "" allows every
 * TLS version.  Produces OpenSSL min/max versions (0 = no bound) and
 * SSL_OP_NO_* options for holes in between.
 */
int tls_protocols_parse(const char *text, int *min_r, int *max_r, uint64_t *no_ops_r,
                        char **error_r);

/* ---- server ------------------------------------------------------------- */

typedef struct tls_server tls_server_t;

struct tls_server_settings {
    /* Key and certificate: chain_files (NULL-terminated, each file a key
     * plus its chain, leaf first) when non-empty, else cert_file (leaf
     * then chain) with key_file (defaults to cert_file). */
    const char *cert_file;
    const char *key_file;
    const char *const *chain_files;
    const char *protocols;               /* NULL: ">=TLSv1.2" */
    const char *cipherlist;              /* OpenSSL list for TLS <= 1.2; NULL: OpenSSL's */
    const char *ticket_key_file;         /* NULL: a key of this process only */
    long ticket_key_uid, ticket_key_gid; /* owner of a new file; -1: as is */
    int ticket_lifetime;                 /* seconds; 0 turns resumption off */
    int loglevel;                        /* 2+: log handshake steps */
    bool lazy;                           /* build the OpenSSL context on first use */
    /* Or the key and certificate texts already read (copied here); used
     * when neither chain_files nor cert_file is set. */
    const struct tls_pem_pair *pem;
};

/*
 * A server context; NULL with *error_r naming the file at fault.  The key
 * and certificate files are read into memory here (so call this before
 * the privilege drop: keys may be readable by root only), the ticket key
 * file is opened, and the OpenSSL context is built from that memory,
 * after which the key text is wiped.  With set->lazy the build waits for
 * the first tls_server_start() (or tls_server_build()): a process that
 * never does TLS never pays for OpenSSL's context and its allocations;
 * tls_server_check() then finds bad keys at once without that cost.
 */
tls_server_t *tls_server_new(const struct tls_server_settings *set, char **error_r);
/* Build a lazy context now (no-op when built); -1 with *error_r. */
int tls_server_build(tls_server_t *srv, char **error_r);
/*
 * Build the context in a short-lived child process (as user drop_user
 * when root and drop_user is not NULL) and report whether that worked,
 * leaving this process's memory as it was.  0, or -1 with the child's
 * reason in *error_r.
 */
int tls_server_check(tls_server_t *srv, const char *drop_user, char **error_r);
/* Whether the OpenSSL context has been built (for tests and logs). */
bool tls_server_built(const tls_server_t *srv);
/*
 * The SMTP server's context from main.cf: smtpd_tls_chain_files or
 * smtpd_tls_cert_file + smtpd_tls_key_file, smtpd_tls_[mandatory_]protocols
 * and smtpd_tls_[mandatory_]ciphers (mandatory: level encrypt or wrapper
 * mode), smtpd_tls_exclude_ciphers, tls_{high,medium}_cipherlist,
 * smtpd_tls_session_cache_timeout, smtpd_tls_loglevel, and the ticket key
 * file $queue_directory/private/tls_ticket_keys (created 0600, owned by
 * mail_owner).  Call before chroot (the files are read here); lazy as
 * in tls_server_settings.
 */
tls_server_t *tls_server_from_config(bool mandatory, bool lazy, char **error_r);
void tls_server_free(tls_server_t **sp);
/*
 * Flush pending output, discard buffered input, handshake within the
 * stream's timeout, push the TLS layer.  -1 with *error_r on failure
 * (the stream is then unusable for SMTP: end the session).
 */
int tls_server_start(stream_t *s, tls_server_t *ctx, char **error_r);

/* ---- client ------------------------------------------------------------- */

typedef struct tls_client tls_client_t;

struct tls_client_settings {
    const char *protocols;  /* NULL: ">=TLSv1.2" */
    const char *cipherlist; /* NULL: OpenSSL's */
    const char *CAfile;     /* trust anchors; both NULL: the system's */
    const char *CApath;
    const char *cert_file; /* optional client certificate */
    const char *key_file;
    /* Or the certificate and key as read before the privilege drop
     * (tls_pem_pair_read); used when cert_file is not set. */
    const struct tls_pem_pair *pem;
    int loglevel;
};

tls_client_t *tls_client_new(const struct tls_client_settings *set, char **error_r);
void tls_client_free(tls_client_t **cp);
/*
 * Handshake as a client.  peername (may be NULL) is sent as SNI and, at
 * level verify/secure, must match the certificate.  At level verify or
 * secure an untrusted or mismatched certificate fails the handshake;
 * below that it is only recorded in tls_info().
 */
int tls_client_start(stream_t *s, tls_client_t *ctx, const char *peername, enum tls_level level,
                     char **error_r);

/* ---- certificates ------------------------------------------------------- */

enum tls_key_type { TLS_KEY_RSA, TLS_KEY_ECDSA };

/*
 * Write a new private key (mode 0600) and a self-signed certificate for
 * name (CN and DNS subjectAltName), valid for days, as PEM files.
 */
int tls_cert_selfsigned(const char *name, enum tls_key_type type, int days, const char *key_path,
                        const char *cert_path, char **error_r);
/* "SHA256 fingerprint" of the first certificate in a PEM file, as AA:BB:... */
char *tls_cert_fingerprint(const char *cert_path, char **error_r);

/* ---- for lib/tls*.c only ------------------------------------------------ */

struct ssl_st;
struct ssl_ctx_st;
/* Take OpenSSL's error queue as text (after prefix) and clear it. */
char *tls_error_text(const char *prefix);
/* Options, protocol range and cipher list every context gets. */
int tls_ctx_common(struct ssl_ctx_st *ctx, const char *protocols, const char *cipherlist,
                   char **error_r);
/* Load key + chain (key_file may equal cert_file); errors name the files. */
int tls_ctx_load_pair(struct ssl_ctx_st *ctx, const char *cert_file, const char *key_file,
                      char **error_r);
/* PEM file contents held in memory between the privilege drop and the build. */
struct tls_pem_text {
    char *data;
    size_t len;
};
struct tls_pem_pair {
    char *cert_file, *key_file; /* names, for messages */
    struct tls_pem_text cert, key;
};
/* Read both files (key_file NULL or "": cert_file); errors name the file. */
int tls_pem_pair_read(struct tls_pem_pair *p, const char *cert_file, const char *key_file,
                      char **error_r);
/* Overwrite the bytes, then free (safe to call twice). */
void tls_pem_pair_wipe(struct tls_pem_pair *p);
void tls_pem_text_wipe(struct tls_pem_text *t);
/* A deep copy (wipe both). */
void tls_pem_pair_copy(struct tls_pem_pair *dst, const struct tls_pem_pair *src);
/*
 * Hand the texts to a program this process starts: two sealed memory
 * files (close-on-exec; dup2 them to the descriptors the program expects),
 * and read them there (pread: the file offset is shared).  No OpenSSL.
 */
int tls_pem_pair_to_fds(const struct tls_pem_pair *p, int *cert_fd_r, int *key_fd_r,
                        char **error_r);
int tls_pem_pair_from_fds(struct tls_pem_pair *p, const char *cert_file, const char *key_file,
                          int cert_fd, int key_fd, char **error_r);
/* tls_ctx_load_pair from the texts. */
int tls_ctx_load_pem(struct ssl_ctx_st *ctx, const struct tls_pem_pair *p, char **error_r);
/* Handshake ssl on the stream's fd and install the layer (takes ssl). */
int tls_conn_start(stream_t *s, struct ssl_st *ssl, bool server, int loglevel, char **error_r);

/* Shared ticket keys (tls_ticket.c). */
typedef struct tls_ticket_keys tls_ticket_keys_t;
/*
 * Open (create) the key file; uid/gid >= 0: its owner (fchown), -1 leaves
 * it; path NULL: keys of this process only.  No key is read or made yet.
 */
tls_ticket_keys_t *tls_ticket_open(const char *path, int lifetime, long uid, long gid,
                                   char **error_r);
void tls_ticket_free(tls_ticket_keys_t **kp);
/* Read the keys (making and storing new ones when missing or old). */
int tls_ticket_load(tls_ticket_keys_t *keys, char **error_r);
/* tls_ticket_load, then install the ticket callback; -1 with *error_r. */
int tls_ticket_install(struct ssl_ctx_st *ctx, tls_ticket_keys_t *keys, char **error_r);

#endif

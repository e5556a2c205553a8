/*
 * tls_ticket.c - session ticket keys shared by every process of a TLS
 * server, so a client resumes its session whichever smtpd it reaches.
 *
 * The keys live in one small binary file (by default
 * $queue_directory/private/tls_ticket_keys, mode 0600, owned by
 * mail_owner), opened before chroot and kept open: the current key and
 * the previous one, each with its creation time.  Opening touches no
 * OpenSSL state; the keys are read (or made) when a context is built.
 * A process re-reads the file at most once a minute, or at once when a
 * ticket names a key it does not know.  Whoever finds the current key
 * older than the lifetime (under an exclusive flock) makes a new one and
 * demotes the old one to "previous": tickets under the previous key are
 * still accepted and are renewed.  Without a file (fd -1) the keys
 * belong to this process alone.
 */
#include "tls.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "log.h"
#include "mem.h"

#define TICKET_MAGIC "TERNTK01"
#define TICKET_RECHECK 60 /* seconds between looks at the file */

struct ticket_key {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
    int64_t created;
};

struct tls_ticket_keys {
    int fd;
    int lifetime;
    struct ticket_key cur, prev;
    bool have_cur, have_prev;
    int64_t checked;
};

struct ticket_file {
    char magic[8];
    struct ticket_key cur, prev;
    unsigned char have_prev;
};

static int ticket_new_key(struct ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->hmac, sizeof(k->hmac)) != 1 ||
        RAND_bytes(k->aes, sizeof(k->aes)) != 1)
        return -1;
    k->created = (int64_t)time(NULL);
    return 0;
}

/* Rotate in memory when the current key is missing or too old. */
static bool ticket_rotate(tls_ticket_keys_t *k, int64_t now)
{
    if (k->have_cur && now - k->cur.created < k->lifetime && now >= k->cur.created)
        return false;
    struct ticket_key fresh;
    if (ticket_new_key(&fresh) < 0)
        return false;
    if (k->have_cur) {
        k->prev = k->cur;
        k->have_prev = true;
    }
    k->cur = fresh;
    k->have_cur = true;
    return true;
}

static void ticket_file_sync(tls_ticket_keys_t *k, int64_t now)
{
    if (flock(k->fd, LOCK_EX) < 0) {
        msg_warn("tls ticket key file: flock: %s", strerror(errno));
        return;
    }
    struct ticket_file f;
    ssize_t n = pread(k->fd, &f, sizeof(f), 0);
    if (n == (ssize_t)sizeof(f) && memcmp(f.magic, TICKET_MAGIC, 8) == 0) {
        k->cur = f.cur;
        k->have_cur = true;
        k->prev = f.prev;
        k->have_prev = f.have_prev != 0;
    }
    if (ticket_rotate(k, now)) {
        memset(&f, 0, sizeof(f));
        memcpy(f.magic, TICKET_MAGIC, 8);
        f.cur = k->cur;
        f.prev = k->prev;
        f.have_prev = k->have_prev;
        if (pwrite(k->fd, &f, sizeof(f), 0) != (ssize_t)sizeof(f) ||
            ftruncate(k->fd, (off_t)sizeof(f)) < 0)
            msg_warn("tls ticket key file: write: %s", strerror(errno));
    }
    OPENSSL_cleanse(&f, sizeof(f));
    (void)flock(k->fd, LOCK_UN);
}

static void ticket_refresh(tls_ticket_keys_t *k, bool force)
{
    int64_t now = (int64_t)time(NULL);
    if (!force && k->have_cur && now - k->checked < TICKET_RECHECK &&
        now - k->cur.created < k->lifetime)
        return;
    k->checked = now;
    if (k->fd >= 0)
        ticket_file_sync(k, now);
    else
        (void)ticket_rotate(k, now);
}

tls_ticket_keys_t *tls_ticket_open(const char *path, int lifetime, long uid, long gid,
                                   char **error_r)
{
    tls_ticket_keys_t *k = xcalloc(1, sizeof(*k));
    k->fd = -1;
    k->lifetime = lifetime > 0 ? lifetime : 3600;
    if (path != NULL) {
        k->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct stat st;
        if (k->fd < 0 || fstat(k->fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
            if (k->fd >= 0) {
                close(k->fd);
                errno = EPERM;
            }
            error_set(error_r, "ticket key file %s: %s", path,
                      errno == EPERM ? "not a regular file of mode 0600" : strerror(errno));
            free(k);
            return NULL;
        }
        if (uid >= 0 && fchown(k->fd, (uid_t)uid, (gid_t)gid) < 0)
            msg_warn("ticket key file %s: chown: %s", path, strerror(errno));
    }
    return k;
}

int tls_ticket_load(tls_ticket_keys_t *k, char **error_r)
{
    ticket_refresh(k, true);
    if (!k->have_cur)
        return error_set(error_r, "cannot make a session ticket key");
    return 0;
}

void tls_ticket_free(tls_ticket_keys_t **kp)
{
    tls_ticket_keys_t *k = *kp;
    if (k == NULL)
        return;
    if (k->fd >= 0)
        close(k->fd);
    OPENSSL_cleanse(k, sizeof(*k));
    xfree(*kp);
}

static int ticket_set_hmac(EVP_MAC_CTX *hctx, struct ticket_key *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key->hmac, sizeof(key->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

static struct ticket_key *ticket_find(tls_ticket_keys_t *k, const unsigned char *name, bool *old_r)
{
    if (k->have_cur && memcmp(name, k->cur.name, 16) == 0) {
        *old_r = false;
        return &k->cur;
    }
    if (k->have_prev && memcmp(name, k->prev.name, 16) == 0) {
        *old_r = true;
        return &k->prev;
    }
    return NULL;
}

/* OpenSSL's ticket callback: 1 ok, 2 ok and renew, 0 no such key, -1 error. */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
                     EVP_MAC_CTX *hctx, int enc)
{
    tls_ticket_keys_t *k = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (enc) {
        ticket_refresh(k, false);
        memcpy(key_name, k->cur.name, 16);
        int ivlen = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
        if (RAND_bytes(iv, ivlen) != 1 ||
            EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->cur.aes, iv) != 1 ||
            ticket_set_hmac(hctx, &k->cur) < 0)
            return -1;
        return 1;
    }
    bool old;
    struct ticket_key *key = ticket_find(k, key_name, &old);
    if (key == NULL) {
        ticket_refresh(k, true); /* another process may have rotated */
        key = ticket_find(k, key_name, &old);
    }
    if (key == NULL)
        return 0;
    if (ticket_set_hmac(hctx, key) < 0 ||
        EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1)
        return -1;
    return old ? 2 : 1;
}

int tls_ticket_install(SSL_CTX *ctx, tls_ticket_keys_t *keys, char **error_r)
{
    if (tls_ticket_load(keys, error_r) < 0)
        return -1;
    SSL_CTX_set_app_data(ctx, keys);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    return 0;
}

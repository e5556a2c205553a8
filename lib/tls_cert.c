/*
 * tls_cert.c - self-signed certificates for sandbox instances (`tern
 * init`) and tests, and certificate fingerprints.  Keys are RSA 2048 or
 * ECDSA P-256; the key file is created mode 0600 and never replaced
 * through a symbolic link.
 */
#include "tls.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mem.h"

static int cert_fail(char **error_r, const char *what)
{
    char *e = tls_error_text("");
    error_set(error_r, "%s: %s", what, e);
    free(e);
    return -1;
}

static int cert_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

static int cert_fill(X509 *x, EVP_PKEY *key, const char *name, enum tls_key_type type, int days)
{
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return -1;
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    X509_NAME *subj = X509_get_subject_name(x);
    char *san = xasprintf("DNS:%s", name);
    ok = ok && X509_set_version(x, 2) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL &&
         X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(x, subj) == 1 && X509_set_pubkey(x, key) == 1 &&
         cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
         cert_add_ext(x, NID_key_usage,
                      type == TLS_KEY_RSA ? "critical,digitalSignature,keyEncipherment"
                                          : "critical,digitalSignature") == 0 &&
         cert_add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
         cert_add_ext(x, NID_subject_key_identifier, "hash") == 0 &&
         cert_add_ext(x, NID_subject_alt_name, san) == 0 && X509_sign(x, key, EVP_sha256()) > 0;
    free(san);
    return ok ? 0 : -1;
}

/* Write PEM text through a new file of the given mode (replaces a file, never a link). */
static int cert_write(const char *path, mode_t mode, EVP_PKEY *key, X509 *x, char **error_r)
{
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return error_set(error_r, "cannot create %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return error_set(error_r, "cannot create %s: %s", path, strerror(errno));
    }
    (void)fchmod(fd, mode);
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x);
    if (fflush(f) != 0 || fsync(fd) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (ok != 1)
        return error_set(error_r, "cannot write %s", path);
    return 0;
}

int tls_cert_selfsigned(const char *name, enum tls_key_type type, int days, const char *key_path,
                        const char *cert_path, char **error_r)
{
    ERR_clear_error();
    EVP_PKEY *key = type == TLS_KEY_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (key == NULL)
        return cert_fail(error_r, "cannot generate a key");
    X509 *x = X509_new();
    int rc = -1;
    if (x == NULL || cert_fill(x, key, name, type, days) < 0)
        cert_fail(error_r, "cannot make a certificate");
    else if (cert_write(key_path, 0600, key, NULL, error_r) == 0 &&
             cert_write(cert_path, 0644, NULL, x, error_r) == 0)
        rc = 0;
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

char *tls_cert_fingerprint(const char *cert_path, char **error_r)
{
    FILE *f = fopen(cert_path, "r");
    if (f == NULL) {
        error_set(error_r, "cannot open %s: %s", cert_path, strerror(errno));
        return NULL;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (x == NULL || X509_digest(x, EVP_sha256(), md, &n) != 1) {
        X509_free(x);
        cert_fail(error_r, cert_path);
        return NULL;
    }
    X509_free(x);
    str_t *s = str_new(3 * n);
    for (unsigned int i = 0; i < n; i++)
        (void)str_appendf(s, "%s%02X", i ? ":" : "", md[i]);
    return str_steal(&s);
}

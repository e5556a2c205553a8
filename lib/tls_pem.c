/*
 * tls_pem.c - key and certificate files read into memory (struct
 * tls_pem_pair, tls.h), with no OpenSSL in it: a process that only reads
 * the files as root and hands the text on (pop3d's session parent, for
 * its login program) does not link OpenSSL for that.
 */
#include "tls.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "mem.h"

/* Longest key or certificate file read into memory. */
#define TLS_PEM_MAX (1024 * 1024)

static int tls_pem_read(const char *path, struct tls_pem_text *t, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return error_set(error_r, "cannot open %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size > TLS_PEM_MAX) {
        close(fd);
        return error_set(error_r, "%s: not a regular file of at most %d bytes", path, TLS_PEM_MAX);
    }
    t->data = xmalloc((size_t)st.st_size + 1);
    t->len = 0;
    for (;;) {
        ssize_t n = read(fd, t->data + t->len, (size_t)st.st_size + 1 - t->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && t->len + (size_t)n > (size_t)st.st_size)) {
            int e = n < 0 ? errno : EFBIG;
            close(fd);
            tls_pem_text_wipe(t);
            return error_set(error_r, "cannot read %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        t->len += (size_t)n;
    }
    close(fd);
    return 0;
}

void tls_pem_text_wipe(struct tls_pem_text *t)
{
    if (t->data != NULL) {
        explicit_bzero(t->data, t->len);
        free(t->data);
    }
    t->data = NULL;
    t->len = 0;
}

int tls_pem_pair_read(struct tls_pem_pair *p, const char *cert_file, const char *key_file,
                      char **error_r)
{
    memset(p, 0, sizeof(*p));
    if (key_file == NULL || *key_file == '\0')
        key_file = cert_file;
    p->cert_file = xstrdup(cert_file);
    p->key_file = xstrdup(key_file);
    if (tls_pem_read(cert_file, &p->cert, error_r) < 0 ||
        tls_pem_read(key_file, &p->key, error_r) < 0) {
        tls_pem_pair_wipe(p);
        return -1;
    }
    return 0;
}

void tls_pem_pair_wipe(struct tls_pem_pair *p)
{
    tls_pem_text_wipe(&p->cert);
    tls_pem_text_wipe(&p->key);
    xfree(p->cert_file);
    xfree(p->key_file);
}

/* A sealed memory file holding t's bytes; -1 with *error_r. */
static int tls_pem_memfd(const char *name, const struct tls_pem_text *t, char **error_r)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return error_set(error_r, "memfd_create: %s", strerror(errno));
    size_t off = 0;
    while (off < t->len) {
        ssize_t n = write(fd, t->data + off, t->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            (void)close(fd);
            return error_set(error_r, "write to a memory file: %s", strerror(e));
        }
        off += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int e = errno;
        (void)close(fd);
        return error_set(error_r, "seal a memory file: %s", strerror(e));
    }
    return fd;
}

int tls_pem_pair_to_fds(const struct tls_pem_pair *p, int *cert_fd_r, int *key_fd_r, char **error_r)
{
    *cert_fd_r = tls_pem_memfd("tls-cert", &p->cert, error_r);
    if (*cert_fd_r < 0)
        return -1;
    *key_fd_r = tls_pem_memfd("tls-key", &p->key, error_r);
    if (*key_fd_r < 0) {
        (void)close(*cert_fd_r);
        *cert_fd_r = -1;
        return -1;
    }
    return 0;
}

/* All of fd's bytes from offset 0 (the offset is shared with other processes). */
static int tls_pem_fd_read(int fd, const char *name, struct tls_pem_text *t, char **error_r)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_PEM_MAX)
        return error_set(error_r, "%s: descriptor %d is not a key or certificate text", name, fd);
    t->data = xmalloc((size_t)st.st_size + 1);
    t->len = 0;
    while (t->len < (size_t)st.st_size) {
        ssize_t n = pread(fd, t->data + t->len, (size_t)st.st_size - t->len, (off_t)t->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            tls_pem_text_wipe(t);
            return error_set(error_r, "cannot read %s from descriptor %d: %s", name, fd,
                             strerror(e));
        }
        t->len += (size_t)n;
    }
    t->data[t->len] = '\0';
    return 0;
}

int tls_pem_pair_from_fds(struct tls_pem_pair *p, const char *cert_file, const char *key_file,
                          int cert_fd, int key_fd, char **error_r)
{
    memset(p, 0, sizeof(*p));
    p->cert_file = xstrdup(cert_file);
    p->key_file = xstrdup(key_file != NULL && *key_file != '\0' ? key_file : cert_file);
    if (tls_pem_fd_read(cert_fd, p->cert_file, &p->cert, error_r) < 0 ||
        tls_pem_fd_read(key_fd, p->key_file, &p->key, error_r) < 0) {
        tls_pem_pair_wipe(p);
        return -1;
    }
    return 0;
}

static void tls_pem_text_copy(struct tls_pem_text *dst, const struct tls_pem_text *src)
{
    dst->data = xmalloc(src->len + 1);
    memcpy(dst->data, src->data, src->len);
    dst->data[src->len] = '\0';
    dst->len = src->len;
}

void tls_pem_pair_copy(struct tls_pem_pair *dst, const struct tls_pem_pair *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->cert_file = xstrdup(src->cert_file);
    dst->key_file = xstrdup(src->key_file);
    tls_pem_text_copy(&dst->cert, &src->cert);
    tls_pem_text_copy(&dst->key, &src->key);
}

/*
 * durable.c - write-all, directory fsync, no-replace rename, mkdir -p with
 * fsync of each parent.  See durable.h.
 */
#include "durable.h"
#include "mem.h"

#include <fcntl.h>
#include <libgen.h>

int durable_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int durable_pwrite_all(int fd, const void *data, size_t n, off_t off)
{
    const char *p = data;
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        p += r;
        off += r;
        n -= (size_t)r;
    }
    return 0;
}

int durable_fsync_dir(const char *dir)
{
    int g = durable_group_fsync_dir(dir);
    return g <= 0 ? g : durable_fsync_dir_alone(dir);
}

int durable_fsync_dir_alone(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

int durable_fsync_parent(const char *path)
{
    char *copy = xstrdup(path);
    int r = durable_fsync_dir(dirname(copy));
    int saved = errno;
    free(copy);
    errno = saved;
    return r;
}

int durable_rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File system without RENAME_NOREPLACE: link refuses to replace. */
    if (link(from, to) < 0)
        return -1;
    if (unlink(from) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* mkdir one level; 1 if created, 0 if it already was a directory, -1. */
static int mkdir_one(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return 1;
    if (errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int durable_mkdir_p(const char *path, mode_t mode)
{
    struct stat st;
    if (path[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    char *copy = xstrdup(path);
    int r = 0;
    /* Walk each prefix ending before a '/', then the whole path. */
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int made = mkdir_one(copy, mode);
        if (made < 0 || (made == 1 && durable_fsync_parent(copy) < 0)) {
            r = -1;
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
        while (p[1] == '/')
            p++;
    }
    int err = errno;
    free(copy);
    errno = err;
    return r;
}

bool durable_errno_temporary(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case ENFILE:
    case EMFILE:
    case ETIMEDOUT:
    case ESTALE:
        return true;
    default:
        return false;
    }
}

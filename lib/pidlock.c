/*
 * pidlock.c - find the master that holds a queue directory's lock.
 */
#include "pidlock.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>

char *pidlock_path(const char *queue_dir)
{
    return xasprintf("%s/pid/master.pid", queue_dir);
}

pid_t pidlock_read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

pid_t pidlock_holder(const char *queue_dir)
{
    char *path = pidlock_path(queue_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        pid_t r = 0;
        if (errno != ENOENT) {
            msg_warn("open %s: %s", path, strerror(errno));
            r = -1;
        }
        free(path);
        return r;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    pid_t pid = -1;
    if (fcntl(fd, F_GETLK, &fl) < 0)
        msg_warn("lock test on %s: %s", path, strerror(errno));
    else if (fl.l_type == F_UNLCK)
        pid = 0;
    else /* l_pid is 0 when the holder is in another pid namespace */
        pid = fl.l_pid > 0 ? fl.l_pid : pidlock_read_pid(fd);
    msg_debug("%s: %s, pid %ld", path, pid > 0 ? "locked" : "not locked", (long)pid);
    close(fd);
    free(path);
    return pid;
}

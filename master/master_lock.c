/*
 * master_lock.c - one master per queue directory: an exclusive fcntl()
 * lock on queue_directory/pid/master.pid, which holds master's pid.
 * fcntl locks belong to the process and are not inherited by children,
 * so only master itself ever holds it; the kernel drops it when master
 * dies, however it dies.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "pidlock.h"
#include "str.h"

#include <fcntl.h>
#include <sys/stat.h>

static int lock_fd = -1;
static char *lock_path;

/* mkdir -p for one level; an existing directory is fine. */
static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, bool chown_it)
{
    if (mkdir(path, mode) < 0) {
        if (errno != EEXIST) {
            msg_error("mkdir %s: %s", path, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            msg_error("%s: exists and is not a directory", path);
            return -1;
        }
        return 0;
    }
    if (chown_it && chown(path, uid, gid) < 0) {
        msg_error("chown %s: %s", path, strerror(errno));
        return -1;
    }
    if (chmod(path, mode) < 0) { /* undo the umask */
        msg_error("chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Create queue_directory and the directories master itself needs. */
int master_make_dirs(const struct master_params *p)
{
    char *pid = xasprintf("%s/pid", p->queue_directory);
    char *priv = xasprintf("%s/private", p->queue_directory);
    char *pub = xasprintf("%s/public", p->queue_directory);
    int rc = 0;
    if (make_dir(p->queue_directory, 0755, 0, 0, false) < 0 ||
        make_dir(pid, 0755, 0, 0, false) < 0 ||
        make_dir(priv, 0700, p->owner_uid, p->owner_gid, master_is_root) < 0 ||
        make_dir(pub, 0755, p->owner_uid, p->owner_gid, master_is_root) < 0)
        rc = -1;
    free(pid);
    free(priv);
    free(pub);
    return rc;
}

int master_lock_acquire(const char *queue_dir)
{
    char *path = pidlock_path(queue_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        msg_error("open %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES) {
            struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            pid_t other = fcntl(fd, F_GETLK, &probe) == 0 ? probe.l_pid : pidlock_read_pid(fd);
            msg_error("the master for queue directory %s is already running (pid %ld)", queue_dir,
                      (long)other);
        } else {
            msg_error("lock %s: %s", path, strerror(errno));
        }
        close(fd);
        free(path);
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%10ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        msg_error("write %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    lock_fd = fd;
    lock_path = path;
    return 0;
}

void master_lock_release(void)
{
    if (lock_fd < 0)
        return;
    (void)unlink(lock_path);
    close(lock_fd);
    lock_fd = -1;
    xfree(lock_path);
}

pid_t master_lock_probe(const char *queue_dir)
{
    return pidlock_holder(queue_dir);
}

/*
 * durable_group.c - group commit of directory fsyncs among cooperating
 * processes (durable.h): the smtpd (and pickup, cleanup) processes that
 * all create queue files in incoming/ share one fsync of the directory
 * when their commits overlap, instead of queueing one each.
 *
 * A small state file, mapped shared by every process, holds two counters:
 * "requested" (tickets handed out) and "durable" (every ticket up to this
 * one has had its directory entry made durable).  A process whose entry
 * is in place takes a ticket, then takes the file's flock; if a fsync
 * that started after its ticket has completed meanwhile (durable >=
 * ticket) it is done, else it reads "requested" (every ticket up to that
 * value was taken after its entry existed), fsyncs the directory and
 * publishes that value as durable.  Each caller still returns only when
 * its own entry is on stable storage.  A process that dies holding the
 * lock releases it, without publishing anything.  The counters are only
 * trusted within one boot (the file records the kernel's boot_id).
 */
#include "durable.h"
#include "mem.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>

#define GROUP_MAX 16 /* groups open at once; the least recently used goes */
#define GROUP_PAGE 4096

struct group_state {
    _Atomic uint64_t requested, durable;
    char boot_id[40];
};

struct dir_group {
    char *dir; /* opened for each fsync: the path, not an old inode */
    int state_fd;
    struct group_state *st;
    uint64_t used; /* for least-recently-used replacement */
};

static struct dir_group groups[GROUP_MAX];
static size_t ngroups;
static uint64_t group_clock;

static void group_close(struct dir_group *g)
{
    munmap(g->st, GROUP_PAGE);
    close(g->state_fd);
    free(g->dir);
    *g = (struct dir_group){0};
}

static struct dir_group *group_find(const char *dir)
{
    for (size_t i = 0; i < ngroups; i++)
        if (strcmp(groups[i].dir, dir) == 0) {
            groups[i].used = ++group_clock;
            return &groups[i];
        }
    return NULL;
}

/* A free slot, closing the least recently used group when all are taken. */
static struct dir_group *group_slot(void)
{
    if (ngroups < GROUP_MAX)
        return &groups[ngroups++];
    struct dir_group *old = &groups[0];
    for (size_t i = 1; i < ngroups; i++)
        if (groups[i].used < old->used)
            old = &groups[i];
    group_close(old);
    return old;
}

static void read_boot_id(char out[40])
{
    memset(out, 0, 40);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, 39);
    close(fd);
    if (n < 0)
        memset(out, 0, 40);
}

/* Counters from an earlier boot (or a new file) start again at zero. */
static int group_check_boot(struct dir_group *g)
{
    char id[40];
    read_boot_id(id);
    if (id[0] == '\0') { /* cannot tell an old file from ours: no group */
        errno = ENOENT;
        return -1;
    }
    if (flock(g->state_fd, LOCK_EX) < 0)
        return -1;
    if (memcmp(g->st->boot_id, id, sizeof(id)) != 0) {
        atomic_store(&g->st->durable, 0);
        atomic_store(&g->st->requested, 0);
        memcpy(g->st->boot_id, id, sizeof(id));
    }
    return flock(g->state_fd, LOCK_UN);
}

int durable_group_open(const char *dir, const char *state_path)
{
    if (group_find(dir) != NULL)
        return 0;
    struct dir_group g = {.state_fd = -1};
    struct stat sb;
    g.state_fd = open(state_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    /* Blocks allocated now: a write to the mapping must never meet a full disk (SIGBUS). */
    if (g.state_fd < 0 || fstat(g.state_fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (errno = posix_fallocate(g.state_fd, 0, GROUP_PAGE)) != 0)
        goto fail;
    void *p = mmap(NULL, GROUP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g.state_fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    g.st = p;
    if (group_check_boot(&g) < 0) {
        munmap(p, GROUP_PAGE);
        goto fail;
    }
    g.dir = xstrdup(dir);
    g.used = ++group_clock;
    *group_slot() = g;
    return 0;
fail:;
    int saved = errno;
    if (g.state_fd >= 0)
        close(g.state_fd);
    errno = saved;
    return -1;
}

static int group_fsync(struct dir_group *g)
{
    uint64_t ticket = atomic_fetch_add(&g->st->requested, 1) + 1;
    if (flock(g->state_fd, LOCK_EX) < 0)
        return durable_fsync_dir_alone(g->dir); /* cannot coordinate: do it alone */
    int r = 0;
    if (atomic_load(&g->st->durable) < ticket) {
        uint64_t upto = atomic_load(&g->st->requested);
        r = durable_fsync_dir_alone(g->dir);
        if (r == 0 && atomic_load(&g->st->durable) < upto)
            atomic_store(&g->st->durable, upto);
    }
    int saved = errno;
    (void)flock(g->state_fd, LOCK_UN);
    errno = saved;
    return r;
}

int durable_group_fsync_dir(const char *dir)
{
    struct dir_group *g = group_find(dir);
    return g != NULL ? group_fsync(g) : 1;
}

void durable_group_close_all(void)
{
    for (size_t i = 0; i < ngroups; i++)
        group_close(&groups[i]);
    ngroups = 0;
}

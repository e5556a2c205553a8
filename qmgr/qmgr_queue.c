/*
 * qmgr_queue.c - queue scans: incoming/ (new mail), active/ (mail a
 * crashed queue manager left), deferred/ (mail whose retry time, the
 * file's mtime, has come).  What a scan finds goes to the scheduler
 * (qmgr_sched_ready), which moves it to active/ when there is room.
 */
#include "sys.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "durable.h"
#include "log.h"
#include "mem.h"
#include "qmgr.h"
#include "queue_id.h"

static time_t last_deferred_scan;

void qmgr_queue_init(void)
{
    const char *qdir = cfg_str("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir %s: %s", qdir, strerror(errno));
    static const char *const dirs[] = {QMGR_DIR_INCOMING, QMGR_DIR_ACTIVE, QMGR_DIR_DEFERRED,
                                       QMGR_DIR_CORRUPT, "defer"};
    for (size_t i = 0; i < N_ELEMENTS(dirs); i++)
        if (durable_mkdir_p(dirs[i], 0700) < 0)
            msg_fatal("mkdir %s/%s: %s", qdir, dirs[i], strerror(errno));
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The queue IDs in dir, oldest first (NULL-terminated; cfg_list_free-able). */
static char **list_ids(const char *dir, size_t *n_r)
{
    size_t n = 0;
    char **ids = xreallocarray(NULL, 1, sizeof(*ids));
    DIR *d = opendir(dir);
    if (d == NULL) {
        msg_warn("opendir %s: %s", dir, strerror(errno));
    } else {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!queue_id_valid(e->d_name))
                continue;
            ids = xreallocarray(ids, size_add(n, 2), sizeof(*ids));
            ids[n++] = xstrdup(e->d_name);
        }
        closedir(d);
    }
    ids[n] = NULL;
    qsort(ids, n, sizeof(*ids), id_cmp);
    *n_r = n;
    return ids;
}

static void free_ids(char **ids)
{
    for (char **p = ids; *p != NULL; p++)
        free(*p);
    free(ids);
}

/* An incomplete file in incoming/: wait for its writer, or recover it. */
static bool incoming_ready(const char *id, const struct stat *st)
{
    if ((st->st_mode & 0777) == QFILE_MODE_COMPLETE)
        return true;
    if (time(NULL) - st->st_mtime < QMGR_RECOVER_AGE)
        return false;
    char *path = qfile_path(QMGR_DIR_INCOMING, id), *error = NULL;
    int rc = qfile_recover(path, &error);
    if (rc == 0) {
        msg_info("%s: recovered an incomplete queue file", id);
    } else if (rc == QFILE_CORRUPT) {
        /*
         * A writer that died mid-message (a smtpd or pickup killed during
         * DATA) leaves a truncated file.  It was never complete, so never
         * acknowledged: the client still has the message.  Remove it.
         */
        if (unlink(path) == 0 || errno == ENOENT)
            msg_info("%s: removed an abandoned incomplete queue file (never acknowledged): %s", id,
                     error);
        else
            msg_warn("%s: unlink %s: %s", id, path, strerror(errno));
    }
    free(error);
    free(path);
    return rc == 0;
}

void qmgr_scan_incoming(void)
{
    size_t n;
    char **ids = list_ids(QMGR_DIR_INCOMING, &n);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char *path = qfile_path(QMGR_DIR_INCOMING, ids[i]);
        int rc = stat(path, &st);
        free(path);
        if (rc == 0 && S_ISREG(st.st_mode) && incoming_ready(ids[i], &st))
            qmgr_sched_ready(ids[i], QMGR_DIR_INCOMING);
    }
    free_ids(ids);
}

void qmgr_scan_active(void)
{
    size_t n;
    char **ids = list_ids(QMGR_DIR_ACTIVE, &n);
    for (size_t i = 0; i < n; i++)
        qmgr_sched_ready(ids[i], QMGR_DIR_ACTIVE);
    free_ids(ids);
}

void qmgr_scan_deferred(bool all)
{
    last_deferred_scan = time(NULL);
    size_t n;
    char **ids = list_ids(QMGR_DIR_DEFERRED, &n);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char *path = qfile_path(QMGR_DIR_DEFERRED, ids[i]);
        int rc = stat(path, &st);
        free(path);
        if (rc == 0 && (all || st.st_mtime <= time(NULL)))
            qmgr_sched_ready(ids[i], QMGR_DIR_DEFERRED);
    }
    free_ids(ids);
}

void qmgr_scan_deferred_when_due(void)
{
    if (time(NULL) - last_deferred_scan >= cfg_time("queue_run_delay"))
        qmgr_scan_deferred(false);
}

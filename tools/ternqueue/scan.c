/*
 * scan.c - reading the queue for ternqueue: the IDs in a queue
 * directory, one message's envelope with its deferral reasons, and
 * finding which queue holds an ID.
 */
#include "sys.h"

#include <dirent.h>
#include <sys/stat.h>

#include "defer_log.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"
#include "ternqueue.h"

static int tq_id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tq_ids_read(const char *dir, struct tq_ids *ids, char **error_r)
{
    ids->v = NULL;
    ids->n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 1;
        *error_r = xasprintf("cannot read queue directory %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!queue_id_valid(de->d_name))
            continue; /* ".", "..", tmp.PID.N of a writer, strays */
        if (ids->n == cap) {
            cap = cap ? size_mul(cap, 2) : 64;
            ids->v = xreallocarray(ids->v, cap, sizeof(*ids->v));
        }
        ids->v[ids->n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (ids->n > 1)
        qsort(ids->v, ids->n, sizeof(*ids->v), tq_id_cmp);
    return 0;
}

void tq_ids_free(struct tq_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    xfree(ids->v);
    ids->n = 0;
}

/* Attach the deferral reasons of defer/ID to the pending recipients. */
static void tq_msg_reasons(struct tq_msg *m)
{
    struct defer_log log = {0};
    char *error = NULL;
    int rc = defer_log_read(".", m->id, &log, &error);
    if (rc < 0) {
        msg_warn("%s: deferral reasons unavailable: %s", m->id, error);
        free(error);
    }
    for (size_t i = 0; rc > 0 && i < m->rcpt_count; i++) {
        const struct defer_entry *e = defer_log_find(&log, m->rcpts[i].address);
        if (e != NULL && e->reason != NULL && e->reason[0] != '\0')
            m->rcpts[i].reason = xstrdup(e->reason);
    }
    defer_log_clear(&log);
}

static void tq_msg_fill(qfile_t *qf, struct tq_msg *m)
{
    qfile_arrival(qf, &m->arrival);
    m->size = qfile_content_size(qf);
    m->sender = xstrdup(qfile_sender(qf));
    m->rcpts = xcalloc(qfile_rcpt_pending(qf) + 1, sizeof(*m->rcpts));
    for (size_t i = 0; i < qfile_rcpt_count(qf); i++) {
        const struct qfile_rcpt *r = qfile_rcpt(qf, i);
        if (!qfile_rcpt_done(r))
            m->rcpts[m->rcpt_count++].address = xstrdup(r->address);
    }
}

int tq_msg_load(const char *queue, const char *id, struct tq_msg *m, char **error_r)
{
    memset(m, 0, sizeof(*m));
    m->queue = queue;
    m->id = id;
    char *path = xasprintf("%s/%s", queue, id);
    qfile_t *qf = NULL;
    int rc = qfile_open(path, 0, &qf, error_r);
    struct stat st;
    bool gone = rc == QFILE_IOERROR && lstat(path, &st) < 0 && errno == ENOENT;
    free(path);
    if (rc == QFILE_INCOMPLETE || gone) {
        xfree(*error_r); /* being written, or moved on since the scan */
        return 1;
    }
    if (rc < 0)
        return -1;
    tq_msg_fill(qf, m);
    qfile_close(&qf);
    if (strcmp(queue, TQ_MAILDROP) != 0)
        tq_msg_reasons(m);
    return 0;
}

void tq_msg_free(struct tq_msg *m)
{
    for (size_t i = 0; i < m->rcpt_count; i++) {
        free(m->rcpts[i].address);
        free(m->rcpts[i].reason);
    }
    xfree(m->rcpts);
    xfree(m->sender);
    m->rcpt_count = 0;
}

const char *tq_find(const char *id, const char *const *queues)
{
    for (size_t i = 0; queues[i] != NULL; i++) {
        char *path = xasprintf("%s/%s", queues[i], id);
        struct stat st;
        int rc = lstat(path, &st);
        free(path);
        if (rc == 0 && S_ISREG(st.st_mode))
            return queues[i];
    }
    return NULL;
}

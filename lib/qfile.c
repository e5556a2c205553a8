/*
 * qfile.c - queue-directory operations on queue files: paths, durable
 * moves between state directories, removal, and one-shot recipient marks.
 * Writing is in qfile_write.c, reading in qfile_read.c; the format is
 * documented in qfile.h.
 */
#include "qfile.h"
#include "durable.h"
#include "mem.h"
#include "str.h"

char *qfile_path(const char *dir, const char *id)
{
    return xasprintf("%s/%s", dir, id);
}

static int qfile_do_move(const char *id, const char *from_dir, const char *to_dir, bool sync,
                         char **error_r)
{
    if (!queue_id_valid(id)) {
        *error_r = xasprintf("bad queue ID");
        return -1;
    }
    char *from = qfile_path(from_dir, id);
    char *to = qfile_path(to_dir, id);
    int rc = -1;
    /* The new entry is made durable before the old one's removal. */
    if (durable_rename_noreplace(from, to) < 0)
        *error_r = xasprintf("rename %s to %s: %s", from, to, strerror(errno));
    else if (sync && (durable_fsync_dir(to_dir) < 0 || durable_fsync_dir(from_dir) < 0))
        *error_r = xasprintf("fsync %s or %s: %s", to_dir, from_dir, strerror(errno));
    else
        rc = 0;
    free(from);
    free(to);
    return rc;
}

int qfile_move(const char *id, const char *from_dir, const char *to_dir, char **error_r)
{
    return qfile_do_move(id, from_dir, to_dir, true, error_r);
}

int qfile_rename(const char *id, const char *from_dir, const char *to_dir, char **error_r)
{
    return qfile_do_move(id, from_dir, to_dir, false, error_r);
}

static int qfile_do_remove(const char *dir, const char *id, bool sync, char **error_r)
{
    if (!queue_id_valid(id)) {
        *error_r = xasprintf("bad queue ID");
        return -1;
    }
    char *path = qfile_path(dir, id);
    int rc = 0;
    if (unlink(path) < 0 || (sync && durable_fsync_dir(dir) < 0)) {
        *error_r = xasprintf("remove %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(path);
    return rc;
}

int qfile_remove(const char *dir, const char *id, char **error_r)
{
    return qfile_do_remove(dir, id, true, error_r);
}

int qfile_unlink(const char *dir, const char *id, char **error_r)
{
    return qfile_do_remove(dir, id, false, error_r);
}

int qfile_mark_done(const char *path, size_t i, char **error_r)
{
    qfile_t *qf;
    if (qfile_open(path, QFILE_OPEN_RDWR, &qf, error_r) < 0)
        return -1;
    int rc = qfile_mark(qf, i, QFILE_RCPT_DELIVERED, error_r);
    if (rc == 0)
        rc = qfile_sync(qf, error_r);
    qfile_close(&qf);
    return rc;
}

const char *qfile_record_name(int type)
{
    switch (type) {
    case QFILE_REC_VERSION:
        return "version";
    case QFILE_REC_TIME:
        return "arrival_time";
    case QFILE_REC_SENDER:
        return "sender";
    case QFILE_REC_ATTR:
        return "attribute";
    case QFILE_REC_RCPT:
        return "recipient";
    case QFILE_REC_CONTENT:
        return "content";
    case QFILE_REC_BODY:
        return "body_marker";
    case QFILE_REC_END:
        return "end";
    default:
        return "unknown";
    }
}

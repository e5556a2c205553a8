/*
 * pickup_file.c - one maildrop file: open it without following links,
 * check it strictly (a queue file, complete, owned by the uid it names,
 * within the size and recipient limits, with valid addresses), submit it
 * to cleanup as a local submission, then remove it.  A file that fails a
 * check, or that cleanup rejects for good, goes to corrupt/ with a log
 * line; a temporary cleanup failure leaves it for the next scan.
 */
#include "sys.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "cleanup_client.h"
#include "config.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "pickup.h"
#include "qfile.h"

#define PICKUP_CORRUPT_DIR "corrupt"

static enum pickup_result pickup_corrupt(const char *id, const char *why)
{
    char *err = NULL;
    msg_warn("%s: removing malformed maildrop file to %s/: %s", id, PICKUP_CORRUPT_DIR, why);
    if (qfile_move(id, MAILDROP_DIR, PICKUP_CORRUPT_DIR, &err) < 0) {
        msg_error("%s: %s", id, err);
        free(err);
        return PICKUP_SKIP;
    }
    return PICKUP_CORRUPT;
}

/* Open maildrop/ID as a regular file with one link, no symlink; the owner in *uid_r. */
static int pickup_open(const char *id, uid_t *uid_r, char **why_r)
{
    char *path = qfile_path(MAILDROP_DIR, id);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    free(path);
    if (fd < 0) {
        *why_r = xasprintf("open: %s", strerror(errno));
        return errno == ELOOP ? -2 : -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        *why_r = xstrdup("not a regular file with one link");
        close(fd);
        return -2;
    }
    *uid_r = st.st_uid;
    return fd;
}

static bool pickup_addr_ok(const char *addr, bool sender)
{
    char *err = NULL;
    char *canon = maildrop_addr_check(addr, sender, &err);
    bool ok = canon != NULL && strcmp(canon, addr) == 0;
    free(canon);
    free(err);
    return ok;
}

/* The checks on a parsed file; NULL when fine, else the reason (malloc'ed). */
static char *pickup_check(const qfile_t *qf, uid_t owner)
{
    const char *uid = qfile_attr(qf, MAILDROP_ATTR_UID);
    const char *extract = qfile_attr(qf, MAILDROP_ATTR_EXTRACT);
    long long limit = cfg_int("message_size_limit");
    char *owner_text = xasprintf("%ld", (long)owner);
    bool uid_ok = uid != NULL && strcmp(uid, owner_text) == 0;
    free(owner_text);
    if (!uid_ok)
        return xasprintf("submit_uid %s does not match the file owner %ld", uid ? uid : "(none)",
                         (long)owner);
    if (extract == NULL || (strcmp(extract, "0") != 0 && strcmp(extract, "1") != 0))
        return xstrdup("bad or missing extract_recipients");
    if (limit > 0 && qfile_content_size(qf) > (uint64_t)limit)
        return xstrdup("message too big");
    if (qfile_rcpt_count(qf) > MAILDROP_RCPT_MAX)
        return xstrdup("too many recipients");
    if (qfile_rcpt_count(qf) == 0 && strcmp(extract, "1") != 0)
        return xstrdup("no recipients");
    if (!pickup_addr_ok(qfile_sender(qf), true))
        return xstrdup("bad sender address");
    for (size_t i = 0; i < qfile_rcpt_count(qf); i++)
        if (!pickup_addr_ok(qfile_rcpt(qf, i)->address, false))
            return xstrdup("bad recipient address");
    return NULL;
}

/* Stream the content to cleanup; 0 or -1 (read error: reason in *why_r). */
static int pickup_copy(qfile_t *qf, cleanup_t *h, char **why_r)
{
    char buf[65536];
    qfile_content_rewind(qf);
    for (;;) {
        ssize_t n = qfile_content_read(qf, buf, sizeof(buf), why_r);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (cleanup_write(h, buf, (size_t)n) < 0)
            return 0; /* the sticky error comes back from cleanup_finish */
    }
}

/* Submit to cleanup; fills *res (status 4 on any local trouble). */
static void pickup_submit(qfile_t *qf, const char *id, struct cleanup_result *res)
{
    size_t n = qfile_rcpt_count(qf);
    struct cleanup_rcpt *rcpts = xcalloc(n ? n : 1, sizeof(*rcpts));
    char **notify = xcalloc(n ? n : 1, sizeof(*notify));
    for (size_t i = 0; i < n; i++) {
        const struct qfile_rcpt *r = qfile_rcpt(qf, i);
        notify[i] = maildrop_notify_text(r->notify);
        rcpts[i] = (struct cleanup_rcpt){
            .address = r->address, .orcpt = *r->orcpt ? r->orcpt : NULL, .notify = notify[i]};
    }
    struct cleanup_envelope env = {.origin = "pickup",
                                   .sender = qfile_sender(qf),
                                   .protocol = "LOCAL",
                                   .submit_uid = qfile_attr(qf, MAILDROP_ATTR_UID),
                                   .envid = qfile_attr(qf, QFILE_ATTR_DSN_ENVID),
                                   .ret = qfile_attr(qf, QFILE_ATTR_DSN_RET),
                                   .local_submission = true,
                                   .extract_recipients =
                                       strcmp(qfile_attr(qf, MAILDROP_ATTR_EXTRACT), "1") == 0,
                                   .rcpts = rcpts,
                                   .rcpt_count = n,
                                   .service_path = CLEANUP_SERVICE};
    char *err = NULL;
    cleanup_t *h = cleanup_open(&env, &err);
    memset(res, 0, sizeof(*res));
    if (h == NULL) {
        res->status = CLEANUP_STAT_TEMP;
        snprintf(res->reason, sizeof(res->reason), "%s", err ? err : "cannot connect to cleanup");
    } else if (pickup_copy(qf, h, &err) < 0) {
        cleanup_abort(&h);
        res->status = CLEANUP_STAT_TEMP;
        snprintf(res->reason, sizeof(res->reason), "%s: %s", id, err ? err : "read error");
    } else
        cleanup_finish(&h, res);
    free(err);
    for (size_t i = 0; i < n; i++)
        free(notify[i]);
    free(notify);
    free(rcpts);
}

static enum pickup_result pickup_outcome(qfile_t *qf, const char *id,
                                         const struct cleanup_result *res)
{
    char *err = NULL;
    if (res->status == CLEANUP_STAT_OK) {
        msg_info("%s: uid=%s from=<%s> queued as %s", id, qfile_attr(qf, MAILDROP_ATTR_UID),
                 qfile_sender(qf), res->queue_id);
        if (qfile_remove(MAILDROP_DIR, id, &err) < 0) {
            msg_error("%s: %s", id, err);
            free(err);
        }
        return PICKUP_DONE;
    }
    if (res->status == CLEANUP_STAT_PERM) {
        char *why = xasprintf("rejected by cleanup: %s %s", res->dsn, res->reason);
        enum pickup_result r = pickup_corrupt(id, why);
        free(why);
        return r;
    }
    msg_warn("%s: cleanup: %s %s; will retry", id, res->dsn, res->reason);
    return PICKUP_RETRY;
}

enum pickup_result pickup_file(const char *id)
{
    uid_t owner = 0;
    char *why = NULL;
    int fd = pickup_open(id, &owner, &why);
    if (fd < 0) {
        enum pickup_result r = fd == -2 ? pickup_corrupt(id, why) : PICKUP_SKIP;
        if (fd == -1 && errno != ENOENT)
            msg_warn("%s: %s", id, why);
        free(why);
        return r;
    }
    qfile_t *qf = NULL;
    char *name = qfile_path(MAILDROP_DIR, id);
    struct qfile_limits lim = {.max_record = QFILE_RECORD_MAX, .max_rcpt = MAILDROP_RCPT_MAX};
    int rc = qfile_open_fd(fd, name, 0, &lim, &qf, &why);
    free(name);
    enum pickup_result r = PICKUP_SKIP;
    char *bad = rc == 0 ? pickup_check(qf, owner) : NULL;
    if (rc == QFILE_CORRUPT)
        r = pickup_corrupt(id, why);
    else if (bad != NULL)
        r = pickup_corrupt(id, bad);
    else if (rc == 0) {
        struct cleanup_result res;
        pickup_submit(qf, id, &res);
        r = pickup_outcome(qf, id, &res);
    } else if (rc == QFILE_IOERROR && errno != ENOENT)
        msg_warn("%s: %s", id, why ? why : "read error");
    free(why);
    free(bad);
    qfile_close(&qf);
    return r;
}

/*
 * admin.c - the postsuper(1) half of ternqueue: delete (-d), hold (-h),
 * release (-H) and requeue (-r) messages by ID or ALL, plus deliver one
 * now (-i) and flush (-f), which only nudge qmgr.
 *
 * Every state change is a rename (qfile_move), so a message is always in
 * exactly one queue.  Only root, mail_owner or the owner of
 * queue_directory (a non-root instance) may change the queue; each change
 * is logged ("ID: removed").  IDs from the user are checked with
 * queue_id_valid() before they touch a path.
 */
#include "sys.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

#include "cleanup_proto.h"
#include "config.h"
#include "defer_log.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "sock.h"
#include "str.h"
#include "ternqueue.h"

#define TQ_ID_LINE_MAX 256
#define TQ_WAKE_TIMEOUT_MS 2000

/* Where each operation looks by default and where it moves to. */
struct tq_op_def {
    enum tq_op op;
    const char *const *from; /* default queues */
    const char *extra;       /* a queue allowed when named, or NULL */
    const char *to;          /* NULL: delete */
    const char *done;        /* log text after "ID: " */
    const char *summary;     /* "Deleted: N messages" */
};

static const char *const tq_from_delete[] = {TQ_HOLD, TQ_INCOMING, TQ_ACTIVE, TQ_DEFERRED, NULL};
static const char *const tq_from_hold[] = {TQ_INCOMING, TQ_ACTIVE, TQ_DEFERRED, NULL};
static const char *const tq_from_release[] = {TQ_HOLD, NULL};

static const struct tq_op_def tq_ops[] = {
    {TQ_OP_DELETE, tq_from_delete, TQ_MAILDROP, NULL, "removed", "Deleted"},
    {TQ_OP_HOLD, tq_from_hold, NULL, TQ_HOLD, "placed on hold", "Placed on hold"},
    {TQ_OP_RELEASE, tq_from_release, NULL, TQ_DEFERRED, "released from hold", "Released from hold"},
    {TQ_OP_REQUEUE, tq_from_delete, NULL, TQ_INCOMING, "requeued", "Requeued"},
};

static const struct tq_op_def *tq_op_find(enum tq_op op)
{
    for (size_t i = 0; i < N_ELEMENTS(tq_ops); i++)
        if (tq_ops[i].op == op)
            return &tq_ops[i];
    msg_panic("unknown queue operation %d", (int)op);
}

static bool tq_is_admin(void)
{
    uid_t uid = getuid();
    if (uid == 0)
        return true;
    struct passwd *pw = getpwnam(cfg_str("mail_owner"));
    if (pw != NULL && pw->pw_uid == uid)
        return true;
    struct stat st;
    return stat(".", &st) == 0 && st.st_uid == uid; /* a non-root instance */
}

void tq_require_admin(const char *what)
{
    if (!tq_is_admin())
        msg_fatal("permission denied: only root or the mail_owner (%s) may %s",
                  cfg_str("mail_owner"), what);
}

/* Drop what other queue directories hold about a message that is gone. */
static void tq_forget(const char *id)
{
    if (defer_log_remove(".", id) < 0)
        msg_warn("%s: cannot remove its deferral log: %s", id, strerror(errno));
    char *bounce = xasprintf("bounce/%s", id);
    if (unlink(bounce) < 0 && errno != ENOENT)
        msg_warn("%s: cannot remove %s: %s", id, bounce, strerror(errno));
    free(bounce);
}

/* Apply one operation to id found in queue; 0 done, -1 failed. */
static int tq_apply(const struct tq_op_def *def, const char *queue, const char *id)
{
    char *error = NULL;
    int rc;
    if (def->to == NULL) {
        rc = qfile_remove(queue, id, &error);
        if (rc == 0)
            tq_forget(id);
    } else if (strcmp(queue, def->to) == 0) {
        rc = 0; /* already there */
    } else {
        if (def->op == TQ_OP_RELEASE) {
            /* qmgr retries a deferred file once its mtime has passed. */
            char *path = xasprintf("%s/%s", queue, id);
            if (utimensat(AT_FDCWD, path, NULL, 0) < 0)
                msg_warn("%s: cannot set its retry time: %s", path, strerror(errno));
            free(path);
        }
        rc = qfile_move(id, queue, def->to, &error);
    }
    if (rc < 0) {
        msg_error("%s: %s", id, error);
        free(error);
        return -1;
    }
    msg_info("%s: %s", id, def->done);
    return 0;
}

/* The queues to search: those given on the command line among the defaults. */
static int tq_check_queues(const struct tq_op_def *def, char **queues)
{
    for (size_t i = 0; queues[i] != NULL; i++) {
        bool ok = def->extra != NULL && strcmp(queues[i], def->extra) == 0;
        for (size_t j = 0; def->from[j] != NULL; j++)
            ok |= strcmp(queues[i], def->from[j]) == 0;
        if (!ok) {
            msg_error("-%c: unknown or unsuitable queue name \"%s\"", (int)def->op, queues[i]);
            return -1;
        }
    }
    return 0;
}

static const char *const *tq_queues(const struct tq_op_def *def, char **queues)
{
    return queues[0] != NULL ? (const char *const *)queues : def->from;
}

/* One ID from the user: counts in *done; -1 bad or not found. */
static int tq_one(const struct tq_op_def *def, char **queues, const char *id, size_t *done)
{
    if (!queue_id_valid(id)) {
        str_t *s = str_new(64);
        str_append_printable(s, id, strlen(id), 64);
        msg_error("bad queue ID \"%s\"", str_c(s));
        str_free(&s);
        return -1;
    }
    const char *queue = tq_find(id, tq_queues(def, queues));
    if (queue == NULL) {
        msg_error("%s: not found", id);
        return -1;
    }
    if (tq_apply(def, queue, id) < 0)
        return -1;
    (*done)++;
    return 0;
}

static int tq_all(const struct tq_op_def *def, char **queues, size_t *done)
{
    const char *const *from = tq_queues(def, queues);
    int rc = 0;
    for (size_t i = 0; from[i] != NULL; i++) {
        struct tq_ids ids;
        char *error = NULL;
        if (tq_ids_read(from[i], &ids, &error) < 0) {
            msg_error("%s", error);
            free(error);
            rc = -1;
            continue;
        }
        for (size_t k = 0; k < ids.n; k++) {
            if (def->to != NULL && strcmp(from[i], def->to) == 0)
                continue;
            if (tq_apply(def, from[i], ids.v[k]) == 0)
                (*done)++;
            else
                rc = -1;
        }
        tq_ids_free(&ids);
    }
    return rc;
}

/* IDs one per line on standard input. */
static int tq_stdin(const struct tq_op_def *def, char **queues, size_t *done)
{
    char line[TQ_ID_LINE_MAX];
    int rc = 0;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0' && tq_one(def, queues, line, done) < 0)
            rc = -1;
    }
    return rc;
}

static int tq_action(const struct tq_action *a, char **queues, size_t *done)
{
    const struct tq_op_def *def = tq_op_find(a->op);
    if (tq_check_queues(def, queues) < 0)
        return -1;
    if (strcmp(a->id, "ALL") == 0)
        return tq_all(def, queues, done);
    if (strcmp(a->id, "-") == 0)
        return tq_stdin(def, queues, done);
    return tq_one(def, queues, a->id, done);
}

int tq_admin(const struct tq_action *acts, size_t n, char **queues)
{
    size_t done[N_ELEMENTS(tq_ops)] = {0};
    int status = 0;
    bool wake = false;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(tq_op_find(acts[i].op) - tq_ops);
        if (tq_action(&acts[i], queues, &done[k]) < 0)
            status = 1;
        wake |= acts[i].op == TQ_OP_REQUEUE && done[k] > 0;
    }
    for (size_t k = 0; k < N_ELEMENTS(tq_ops); k++)
        for (size_t i = 0; i < n; i++)
            if (acts[i].op == tq_ops[k].op) {
                msg_info("%s: %zu message%s", tq_ops[k].summary, done[k], done[k] == 1 ? "" : "s");
                break;
            }
    char *error = NULL;
    if (wake && tq_wake_qmgr(QMGR_REQ_NEW, &error) < 0) {
        msg_warn("requeued mail waits for qmgr's next scan: %s", error);
        free(error);
    }
    return status;
}

int tq_wake_qmgr(char req, char **error_r)
{
    struct stat st;
    int fd;
    if (stat(QMGR_SERVICE, &st) < 0) {
        *error_r = xasprintf("%s: %s", QMGR_SERVICE, strerror(errno));
        return -1;
    }
    if (S_ISFIFO(st.st_mode)) {
        fd = open(QMGR_SERVICE, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            *error_r = xasprintf("%s: %s", QMGR_SERVICE, strerror(errno));
    } else {
        fd = unix_connect(QMGR_SERVICE, TQ_WAKE_TIMEOUT_MS, error_r);
    }
    if (fd < 0)
        return -1;
    int rc = 0;
    if (write(fd, &req, 1) != 1) {
        *error_r = xasprintf("%s: write: %s", QMGR_SERVICE, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

int tq_flush(void)
{
    char *error = NULL;
    if (tq_wake_qmgr(QMGR_REQ_FLUSH, &error) < 0) {
        msg_error("cannot flush the mail queue: the mail system is down or unreachable (%s)",
                  error);
        free(error);
        return 1;
    }
    return 0;
}

int tq_deliver_one(const char *id)
{
    static const char *const all[] = {TQ_DEFERRED, TQ_INCOMING, TQ_ACTIVE, TQ_HOLD, NULL};
    if (!queue_id_valid(id)) {
        str_t *s = str_new(64);
        str_append_printable(s, id, strlen(id), 64);
        msg_error("bad queue ID \"%s\"", str_c(s));
        str_free(&s);
        return 1;
    }
    const char *queue = tq_find(id, all);
    char *error = NULL;
    if (queue == NULL) {
        msg_error("%s: not found in the queue", id);
        return 1;
    }
    if (strcmp(queue, TQ_HOLD) == 0) {
        msg_error("%s: on hold; release it first (ternqueue -H %s)", id, id);
        return 1;
    }
    if (strcmp(queue, TQ_DEFERRED) == 0) {
        if (qfile_move(id, TQ_DEFERRED, TQ_INCOMING, &error) < 0) {
            msg_error("%s: %s", id, error);
            free(error);
            return 1;
        }
        msg_info("%s: scheduled for delivery", id);
    }
    if (tq_wake_qmgr(QMGR_REQ_NEW, &error) < 0) {
        msg_warn("%s: queued, but qmgr could not be told: %s", id, error);
        free(error);
    }
    return 0;
}

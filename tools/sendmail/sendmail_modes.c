/*
 * sendmail_modes.c - sendmail's modes other than submission: -bp (mailq),
 * -bi (newaliases), -bv (address verification) and -q (flush).
 */
#include "sys.h"

#include <dirent.h>
#include <time.h>

#include "cleanup_proto.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "queue_id.h"
#include "resolve.h"
#include "sendmail.h"
#include "sock.h"

/* Run another tern program with MAIL_CONFIG set; returns only on failure. */
static void sendmail_exec(const struct sendmail_opts *o, const char *path, char **args)
{
    setenv("MAIL_CONFIG", o->config_dir, 1);
    execv(path, args);
    msg_error("execute %s: %s", path, strerror(errno));
}

static const char *const sendmail_queue_dirs[] = {"maildrop", "incoming", "active", "deferred",
                                                  "hold"};

/* Status mark after the ID, as mailq shows it. */
static char sendmail_queue_mark(const char *dir)
{
    if (strcmp(dir, "active") == 0)
        return '*';
    if (strcmp(dir, "hold") == 0)
        return '!';
    return ' ';
}

static void sendmail_list_file(const char *dir, const char *path, const char *id, size_t *count,
                               uint64_t *bytes)
{
    qfile_t *qf = NULL;
    char *err = NULL;
    if (qfile_open(path, QFILE_OPEN_ANY_MODE, &qf, &err) != 0) {
        if (errno != ENOENT)
            fprintf(stderr, "mailq: warning: %s\n", err ? err : path);
        free(err);
        return;
    }
    struct timeval tv;
    qfile_arrival(qf, &tv);
    time_t t = tv.tv_sec;
    char when[64] = "";
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", localtime(&t));
    const char *sender = qfile_sender(qf);
    printf("%-21s%c %8llu %s  %s\n", id, sendmail_queue_mark(dir),
           (unsigned long long)qfile_content_size(qf), when, *sender ? sender : "MAILER-DAEMON");
    for (size_t i = 0; i < qfile_rcpt_count(qf); i++)
        if (!qfile_rcpt_done(qfile_rcpt(qf, i)))
            printf("%52s%s\n", "", qfile_rcpt(qf, i)->address);
    printf("\n");
    (*count)++;
    *bytes += qfile_content_size(qf);
    qfile_close(&qf);
}

static void sendmail_list_dir(const char *queue, const char *dir, size_t *count, uint64_t *bytes)
{
    char *path = xasprintf("%s/%s", queue, dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno != ENOENT)
            fprintf(stderr, "mailq: warning: cannot read %s: %s\n", path, strerror(errno));
        free(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!queue_id_valid(e->d_name))
            continue;
        if (*count == 0)
            printf(
                "-Queue ID-            --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
        char *file = qfile_path(path, e->d_name);
        sendmail_list_file(dir, file, e->d_name, count, bytes);
        free(file);
    }
    closedir(d);
    free(path);
}

int sendmail_mailq(const struct sendmail_opts *o)
{
    char *prog = sendmail_program("ternqueue");
    if (prog != NULL) {
        char *args[] = {"ternqueue", "-p", NULL};
        sendmail_exec(o, prog, args);
        free(prog);
        return EX_UNAVAILABLE;
    }
    const char *queue = cfg_str("queue_directory");
    size_t count = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < N_ELEMENTS(sendmail_queue_dirs); i++)
        sendmail_list_dir(queue, sendmail_queue_dirs[i], &count, &bytes);
    if (count == 0)
        printf("Mail queue is empty\n");
    else
        printf("-- %llu Kbytes in %zu Request%s.\n", (unsigned long long)((bytes + 1023) / 1024),
               count, count == 1 ? "" : "s");
    return EX_OK;
}

static bool sendmail_is_indexed(const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL)
        return true; /* default_database_type */
    char *type = xstrndup(spec, (size_t)(colon - spec));
    char *path = dict_indexed_path(type, colon + 1);
    free(type);
    bool indexed = path != NULL;
    free(path);
    return indexed;
}

int sendmail_newaliases(const struct sendmail_opts *o)
{
    char *prog = sendmail_program("newaliases");
    if (prog != NULL) {
        char *args[] = {"newaliases", NULL};
        sendmail_exec(o, prog, args);
        free(prog);
        return EX_UNAVAILABLE;
    }
    char **list = cfg_list("alias_database");
    int rc = EX_OK;
    for (char **p = list; *p != NULL; p++) {
        char *err = NULL;
        if (!sendmail_is_indexed(*p))
            continue; /* texthash:, inline:, ...: nothing to build */
        if (dict_build(*p, DICT_FLAG_ALIAS, &err) < 0) {
            msg_error("newaliases: %s: %s", *p, err ? err : "cannot build");
            rc = EX_SOFTWARE;
        }
        free(err);
    }
    cfg_list_free(&list);
    return rc;
}

static const char *sendmail_class_name(enum resolve_class c)
{
    switch (c) {
    case RESOLVE_LOCAL:
        return "local";
    case RESOLVE_VIRTUAL:
        return "virtual";
    case RESOLVE_RELAY:
        return "relay";
    case RESOLVE_DEFAULT:
        return "default";
    }
    return "unknown";
}

int sendmail_verify(const struct sendmail_opts *o)
{
    int rc = EX_OK;
    if (o->req.rcpt_count == 0)
        return EX_USAGE;
    for (size_t i = 0; i < o->req.rcpt_count; i++) {
        struct resolve_result r;
        char *err = NULL;
        char *canon = maildrop_addr_check(o->req.rcpts[i], false, &err);
        if (canon == NULL) {
            printf("%s: undeliverable: %s\n", o->req.rcpts[i], err);
            rc = EX_DATAERR;
        } else if (resolve_addr(canon, &r, &err) < 0) {
            printf("%s: deferred: %s\n", canon, err ? err : "lookup error");
            rc = EX_TEMPFAIL;
        } else {
            printf("%s: deliverable: class=%s transport=%s nexthop=%s\n", r.addr,
                   sendmail_class_name(r.cls), r.transport ? r.transport : "",
                   r.nexthop ? r.nexthop : "");
            resolve_result_clear(&r);
        }
        free(err);
        free(canon);
    }
    return rc;
}

int sendmail_flush(const struct sendmail_opts *o)
{
    (void)o;
    char *path = xasprintf("%s/%s", cfg_str("queue_directory"), QMGR_SERVICE);
    char *err = NULL;
    int rc = EX_OK;
    int fd = unix_connect(path, 5000, &err);
    if (fd < 0 || write(fd, "F", 1) != 1) {
        msg_error("fatal: cannot flush the queue: %s", err ? err : strerror(errno));
        rc = EX_UNAVAILABLE;
    }
    if (fd >= 0)
        close(fd);
    free(err);
    free(path);
    return rc;
}

/*
 * terndrop.c - the small setgid program that puts a locally submitted
 * message into queue_directory/maildrop/ (postdrop(1)-alike).
 *
 *   terndrop [-c DIR] [-v]   < request (maildrop.h)
 *
 * Installed setgid setgid_group; run by sendmail(1) as the submitting
 * user.  It reads the request strictly, writes a complete queue file
 * (qfile.h) recording the real uid, makes it durable and visible, and
 * wakes pickup(8).  Exit status (sysexits): 0 queued, 64 usage,
 * 65 bad request or message too big, 75 the queue cannot be written.
 *
 * The group privilege is kept only for the default configuration
 * directory or one owned by root and writable by nobody else, so a user
 * cannot point a setgid process at a main.cf of their own.
 */
#include "sys.h"

#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>

#include "config.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "qfile.h"
#include "sock.h"
#include "str.h"
#include "stream.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

#define TERNDROP_TIMEOUT 300 /* seconds per read of the request */

#if defined(__SANITIZE_ADDRESS__)
/*
 * Sanitizer builds only: LeakSanitizer cannot work in a set-group-id
 * process (it is not dumpable, and the environment is not read), so it
 * is switched off there; an ordinary run keeps it.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return getegid() != getgid() ? "detect_leaks=0" : "";
}
#endif

static void terndrop_usage(void)
{
    fprintf(stderr, "usage: terndrop [-c config_dir] [-v] < request\n");
    exit(EX_USAGE);
}

/* Make sure fds 0-2 are open so that no file we open becomes one of them. */
static void terndrop_sane_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);
            if (n != fd)
                exit(EX_OSERR);
        }
    }
}

/* A directory (and its main.cf) the admin controls: root-owned, not writable by others. */
static bool terndrop_trusted_path(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static void terndrop_drop_group(void)
{
    if (setresgid(getgid(), getgid(), getgid()) < 0) {
        fprintf(stderr, "terndrop: setgid: %s\n", strerror(errno));
        exit(EX_OSERR);
    }
}

static const char *terndrop_config_dir(const char *opt_dir)
{
    const char *dir = opt_dir ? opt_dir : getenv("MAIL_CONFIG");
    if (dir == NULL || *dir == '\0')
        dir = TERN_SYSCONFDIR;
    if (getegid() != getgid() && strcmp(dir, TERN_SYSCONFDIR) != 0) {
        char *cf = xasprintf("%s/main.cf", dir);
        bool ok = terndrop_trusted_path(dir) && terndrop_trusted_path(cf);
        free(cf);
        if (!ok)
            terndrop_drop_group();
    }
    return dir;
}

static char *terndrop_user(uid_t uid)
{
    struct passwd *pw = getpwuid(uid);
    return pw ? xstrdup(pw->pw_name) : xasprintf("%ld", (long)uid);
}

/* Envelope records from the checked request. */
static void terndrop_envelope(maildrop_writer_t *w, const struct maildrop_request *r)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char *arrival = xasprintf("%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    char *uid = xasprintf("%ld", (long)getuid());
    char *user = terndrop_user(getuid());
    maildrop_put(w, QFILE_REC_TIME, arrival, strlen(arrival));
    maildrop_put(w, QFILE_REC_SENDER, r->sender, strlen(r->sender));
    maildrop_put_attr(w, MAILDROP_ATTR_UID, uid);
    maildrop_put_attr(w, MAILDROP_ATTR_USER, user);
    maildrop_put_attr(w, MAILDROP_ATTR_EXTRACT, r->extract_recipients ? "1" : "0");
    if (r->full_name)
        maildrop_put_attr(w, MAILDROP_ATTR_FULL_NAME, r->full_name);
    if (r->envid)
        maildrop_put_attr(w, QFILE_ATTR_DSN_ENVID, r->envid);
    if (r->ret)
        maildrop_put_attr(w, QFILE_ATTR_DSN_RET, strcasecmp(r->ret, "FULL") == 0 ? "FULL" : "HDRS");
    free(arrival);
    free(uid);
    free(user);
    unsigned notify = 0;
    if (r->notify)
        maildrop_notify_bits(r->notify, &notify);
    for (size_t i = 0; i < r->rcpt_count; i++)
        maildrop_put_rcpt(w, r->rcpts[i], notify);
}

/* Copy the content chunks into the file; EX_* status. */
static int terndrop_content(stream_t *in, maildrop_writer_t *w, char **err)
{
    long long limit = cfg_int("message_size_limit");
    uint64_t total = 0;
    str_t *buf = str_new(MAILDROP_CHUNK_MAX);
    int rc = EX_OK;
    for (;;) {
        str_reset(buf);
        ssize_t n = maildrop_chunk_read(in, buf, err);
        if (n < 0) {
            rc = EX_DATAERR;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (limit > 0 && total > (uint64_t)limit) {
            *err = xasprintf("message too big (message_size_limit = %lld bytes)", limit);
            rc = EX_DATAERR;
            break;
        }
        maildrop_put_content(w, str_c(buf), str_len(buf));
    }
    str_free(&buf);
    return rc;
}

/* Tell pickup there is work; failure is fine (pickup also wakes on a timer). */
static void terndrop_wake_pickup(const char *queue)
{
    char *path = xasprintf("%s/%s", queue, MAILDROP_PICKUP_SERVICE);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "W", 1) < 0)
                msg_debug("write %s: %s", path, strerror(errno));
            close(fd);
        }
    } else {
        char *err = NULL;
        int fd = unix_connect(path, 1000, &err);
        if (fd >= 0) {
            if (write(fd, "W", 1) < 0)
                msg_debug("write %s: %s", path, strerror(errno));
            close(fd);
        } else
            msg_debug("wake pickup: %s", err);
        free(err);
    }
    free(path);
}

/* Write the maildrop file; EX_* status, and the queue ID in id. */
static int terndrop_queue(stream_t *in, const struct maildrop_request *r, char id[QUEUE_ID_SIZE])
{
    char *dir = xasprintf("%s/%s", cfg_str("queue_directory"), MAILDROP_DIR);
    char *err = NULL;
    int rc = EX_TEMPFAIL;
    maildrop_writer_t *w = maildrop_create(dir, &err);
    if (w != NULL) {
        terndrop_envelope(w, r);
        if ((rc = terndrop_content(in, w, &err)) != EX_OK)
            maildrop_abort(&w);
        else if (maildrop_commit(&w, id, &err) < 0)
            rc = EX_TEMPFAIL;
    }
    if (rc != EX_OK)
        msg_error("cannot queue the message: %s", err ? err : "unknown error");
    free(err);
    free(dir);
    return rc;
}

int main(int argc, char **argv)
{
    const char *opt_dir = NULL;
    int c;
    terndrop_sane_fds();
    umask(077);
    log_init("terndrop");
    log_also_stderr(true);
    while ((c = getopt(argc, argv, "c:v")) != -1) {
        if (c == 'c')
            opt_dir = optarg;
        else if (c == 'v')
            log_set_verbose(log_verbose() + 1);
        else
            terndrop_usage();
    }
    if (optind != argc)
        terndrop_usage();
    const char *dir = terndrop_config_dir(opt_dir);
    if (config_load(dir) < 0)
        return EX_CONFIG;
    if (log_open(cfg_str("syslog_name"), cfg_str("maillog_file")) < 0)
        msg_debug("cannot open the mail log; messages go to stderr only");

    stream_t *in = stream_open_fd(0, 0);
    stream_set_timeout(in, TERNDROP_TIMEOUT);
    struct maildrop_request req;
    char *err = NULL;
    if (maildrop_request_read(in, &req, &err) < 0) {
        msg_error("uid=%ld: rejected: %s", (long)getuid(), err);
        free(err);
        stream_close(&in);
        return EX_DATAERR;
    }
    char id[QUEUE_ID_SIZE] = "";
    int rc = terndrop_queue(in, &req, id);
    if (rc == EX_OK) {
        msg_debug("%s: uid=%ld queued in maildrop", id, (long)getuid());
        terndrop_wake_pickup(cfg_str("queue_directory"));
    }
    maildrop_request_clear(&req);
    stream_close(&in);
    return rc;
}

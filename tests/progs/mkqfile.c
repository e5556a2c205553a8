/*
 * mkqfile.c - write a queue file directly, for the queue tool's tests
 * (so they need no smtpd, cleanup or qmgr):
 *
 *   mkqfile [-t SECONDS] [-a name=value]... [-D rcpt]... [-r rcpt]... \
 *           [-R reason] DIR SENDER < content
 *
 * -r adds a pending recipient, -D one already delivered.  The content on
 * standard input ("\n" line ends) gets its body marker before the first
 * empty line.  With -R, a deferral log (QUEUE/defer/ID, QUEUE being DIR's
 * parent) gives every pending recipient that reason.  Prints the queue ID.
 */
#include "sys.h"

#include <getopt.h>
#include <libgen.h>
#include <sys/time.h>

#include "defer_log.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"

#define MKQ_MAX 64

struct mkq {
    const char *rcpt[MKQ_MAX];
    bool delivered[MKQ_MAX];
    size_t nrcpt;
    const char *attr[MKQ_MAX];
    size_t nattr;
    const char *reason;
    long long when;
};

static void mkq_check(int rc, char *error)
{
    if (rc < 0)
        msg_fatal("%s", error);
}

static str_t *mkq_read_stdin(void)
{
    str_t *s = str_new(4096);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        str_append(s, buf, n);
    return s;
}

static void mkq_content(qfile_writer_t *w, const str_t *c)
{
    char *error = NULL;
    const char *blank = strstr(str_c(c), "\n\n");
    size_t hdr = blank != NULL ? (size_t)(blank - str_c(c)) + 1 : str_len(c);
    mkq_check(qfile_write_content(w, str_c(c), hdr, &error), error);
    mkq_check(qfile_write_body_marker(w, &error), error);
    mkq_check(qfile_write_content(w, str_c(c) + hdr, str_len(c) - hdr, &error), error);
}

static void mkq_envelope(qfile_writer_t *w, const struct mkq *q, const char *sender)
{
    char *error = NULL;
    struct timeval tv = {.tv_sec = (time_t)q->when, .tv_usec = 0};
    mkq_check(qfile_write_arrival(w, &tv, &error), error);
    mkq_check(qfile_write_sender(w, sender, &error), error);
    for (size_t i = 0; i < q->nattr; i++) {
        const char *eq = strchr(q->attr[i], '=');
        if (eq == NULL)
            msg_fatal("-a wants name=value");
        char *name = xstrndup(q->attr[i], (size_t)(eq - q->attr[i]));
        mkq_check(qfile_write_attr(w, name, eq + 1, &error), error);
        free(name);
    }
    for (size_t i = 0; i < q->nrcpt; i++) {
        struct qfile_rcpt_spec r = {.address = q->rcpt[i], .notify = QFILE_NOTIFY_FAILURE};
        mkq_check(qfile_write_rcpt(w, &r, &error), error);
    }
}

/* Mark the -D recipients delivered, as qmgr would. */
static void mkq_mark(const char *path, const struct mkq *q)
{
    char *error = NULL;
    for (size_t i = 0; i < q->nrcpt; i++)
        if (q->delivered[i])
            mkq_check(qfile_mark_done(path, i, &error), error);
}

static void mkq_defer_log(const char *dir, const char *id, const struct mkq *q)
{
    char *error = NULL;
    char *copy = xstrdup(dir);
    char *queue = xstrdup(dirname(copy));
    struct defer_log log = {0};
    for (size_t i = 0; i < q->nrcpt; i++)
        if (!q->delivered[i])
            defer_log_add(&log, q->rcpt[i], "", "4.4.1", q->reason, time(NULL));
    mkq_check(defer_log_write(queue, id, &log, &error), error);
    defer_log_clear(&log);
    free(queue);
    free(copy);
}

static void mkq_add_rcpt(struct mkq *q, const char *addr, bool delivered)
{
    if (q->nrcpt == MKQ_MAX)
        msg_fatal("too many recipients");
    q->delivered[q->nrcpt] = delivered;
    q->rcpt[q->nrcpt++] = addr;
}

int main(int argc, char **argv)
{
    log_init("mkqfile");
    log_open("tern", "/dev/stderr");
    struct mkq q = {.when = (long long)time(NULL)};
    int c;
    while ((c = getopt(argc, argv, "a:D:r:R:t:")) != -1) {
        if (c == 'a' && q.nattr < MKQ_MAX)
            q.attr[q.nattr++] = optarg;
        else if (c == 'D' || c == 'r')
            mkq_add_rcpt(&q, optarg, c == 'D');
        else if (c == 'R')
            q.reason = optarg;
        else if (c == 't')
            q.when = atoll(optarg);
        else
            msg_fatal(
                "usage: mkqfile [-t secs] [-a n=v] [-r rcpt] [-D rcpt] [-R reason] DIR SENDER");
    }
    if (argc - optind != 2)
        msg_fatal("usage: mkqfile [-t secs] [-a n=v] [-r rcpt] [-D rcpt] [-R reason] DIR SENDER");
    const char *dir = argv[optind];
    str_t *content = mkq_read_stdin();
    qfile_writer_t *w;
    char id[QUEUE_ID_SIZE];
    char *error = NULL;
    mkq_check(qfile_create(dir, &w, id, &error), error);
    char *path = xstrdup(qfile_writer_path(w));
    mkq_envelope(w, &q, argv[optind + 1]);
    mkq_content(w, content);
    mkq_check(qfile_commit(&w, &error), error);
    mkq_mark(path, &q);
    if (q.reason != NULL)
        mkq_defer_log(dir, id, &q);
    printf("%s\n", id);
    free(path);
    str_free(&content);
    return 0;
}

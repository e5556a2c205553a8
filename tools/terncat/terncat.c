/*
 * terncat.c - print a queue file (postcat(1)-alike):
 *
 *   terncat [-c DIR] [-e] [-h] [-b] ID|path...
 *
 * An argument that is a valid queue ID is looked for in the queue
 * directories (incoming, active, deferred, hold, corrupt, maildrop);
 * anything else is a file name.  Output is the envelope (-e: arrival
 * time, sender, attributes, recipients with their status), the header
 * section (-h) and the body (-b), each under a "*** ... ***" line; with
 * none of -e/-h/-b all three.  The file is parsed completely before
 * anything is printed, so a corrupt or truncated file yields one clear
 * error and exit status 1.
 */
#include "sys.h"

#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

#define TC_SHOW_ENVELOPE 1u
#define TC_SHOW_HEADER 2u
#define TC_SHOW_BODY 4u
#define TC_BUF_SIZE 65536

struct tc_opts {
    const char *config_dir;
    unsigned show;
    bool config_loaded;
};

static const char *const tc_queues[] = {"incoming", "active",  "deferred",
                                        "hold",     "corrupt", "maildrop"};

static void tc_usage(void)
{
    fprintf(stderr, "usage: terncat [-c config_dir] [-e] [-h] [-b] queue_id|file...\n");
    exit(1);
}

/* Envelope text may hold any byte but NUL: show control bytes as \xNN. */
static void tc_print_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            printf("\\x%02x", *p);
        else
            fputc(*p, stdout);
    }
}

static void tc_field(const char *name, const char *value)
{
    printf("%s: ", name);
    tc_print_safe(value);
    fputc('\n', stdout);
}

static const char *tc_status_name(char status)
{
    switch (status) {
    case QFILE_RCPT_PENDING:
        return "pending";
    case QFILE_RCPT_DELIVERED:
        return "delivered";
    case QFILE_RCPT_FAILED:
        return "failed";
    default:
        return "unknown";
    }
}

static void tc_notify(unsigned bits)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{QFILE_NOTIFY_SUCCESS, "SUCCESS"},
                 {QFILE_NOTIFY_FAILURE, "FAILURE"},
                 {QFILE_NOTIFY_DELAY, "DELAY"},
                 {QFILE_NOTIFY_NEVER, "NEVER"}};
    const char *sep = "";
    fputs(" notify=", stdout);
    for (size_t i = 0; i < N_ELEMENTS(names); i++)
        if (bits & names[i].bit) {
            printf("%s%s", sep, names[i].name);
            sep = ",";
        }
}

static void tc_recipient(const struct qfile_rcpt *r)
{
    fputs("recipient: ", stdout);
    tc_print_safe(r->address);
    printf(" (%s", tc_status_name(r->status));
    if (r->notify != 0)
        tc_notify(r->notify);
    if (r->orcpt[0] != '\0') {
        fputs(" orcpt=", stdout);
        tc_print_safe(r->orcpt);
    }
    if (r->original[0] != '\0') {
        fputs(" original=", stdout);
        tc_print_safe(r->original);
    }
    fputs(")\n", stdout);
}

static void tc_envelope(const qfile_t *qf)
{
    struct timeval tv;
    qfile_arrival(qf, &tv);
    time_t sec = tv.tv_sec;
    struct tm tm;
    char when[64];
    if (localtime_r(&sec, &tm) == NULL ||
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm) == 0)
        str_lcpy(when, "?", sizeof(when));
    printf("message_size: %llu (header %llu)\n", (unsigned long long)qfile_content_size(qf),
           (unsigned long long)qfile_header_size(qf));
    printf("message_arrival_time: %s (%lld.%06ld)\n", when, (long long)tv.tv_sec, (long)tv.tv_usec);
    tc_field("sender", qfile_sender(qf));
    for (size_t i = 0; i < qfile_attr_count(qf); i++) {
        const char *name, *value;
        qfile_attr_at(qf, i, &name, &value);
        printf("named_attribute: %s=", name);
        tc_print_safe(value);
        fputc('\n', stdout);
    }
    for (size_t i = 0; i < qfile_rcpt_count(qf); i++)
        tc_recipient(qfile_rcpt(qf, i));
}

/* Copy content bytes [from, to) to stdout; -1 with *error_r. */
static int tc_content(qfile_t *qf, uint64_t from, uint64_t to, char **error_r)
{
    char *buf = xmalloc(TC_BUF_SIZE);
    uint64_t pos = 0;
    ssize_t n = 0;
    qfile_content_rewind(qf);
    while (pos < to && (n = qfile_content_read(qf, buf, TC_BUF_SIZE, error_r)) > 0) {
        uint64_t lo = pos < from ? from - pos : 0;
        uint64_t hi = pos + (uint64_t)n > to ? to - pos : (uint64_t)n;
        if (lo < hi)
            fwrite(buf + lo, 1, (size_t)(hi - lo), stdout);
        pos += (uint64_t)n;
    }
    free(buf);
    return n < 0 ? -1 : 0;
}

/* The body starts with the empty line that ends the header: skip it alone. */
static uint64_t tc_body_start(qfile_t *qf)
{
    uint64_t hdr = qfile_header_size(qf);
    char c;
    char *error = NULL;
    if (hdr >= qfile_content_size(qf) || (hdr == 0 && qfile_content_size(qf) == 0))
        return hdr;
    qfile_content_rewind(qf);
    for (uint64_t i = 0; i <= hdr; i++)
        if (qfile_content_read(qf, &c, 1, &error) != 1) {
            free(error);
            return hdr;
        }
    return c == '\n' ? hdr + 1 : hdr;
}

static int tc_show(const struct tc_opts *o, qfile_t *qf, const char *name)
{
    char *error = NULL;
    uint64_t hdr = qfile_header_size(qf), all = qfile_content_size(qf);
    int rc = 0;
    if (o->show & TC_SHOW_ENVELOPE) {
        printf("*** ENVELOPE RECORDS %s ***\n", name);
        tc_envelope(qf);
    }
    if (rc == 0 && (o->show & TC_SHOW_HEADER)) {
        printf("*** MESSAGE HEADER %s ***\n", name);
        rc = tc_content(qf, 0, hdr, &error);
    }
    if (rc == 0 && (o->show & TC_SHOW_BODY)) {
        uint64_t start = (o->show & TC_SHOW_HEADER) ? hdr : tc_body_start(qf);
        printf("*** MESSAGE BODY %s ***\n", name);
        rc = tc_content(qf, start, all, &error);
    }
    if (rc < 0) {
        fflush(stdout);
        msg_error("%s", error);
        free(error);
        return -1;
    }
    printf("*** MESSAGE FILE END %s ***\n", name);
    return 0;
}

static void tc_config(struct tc_opts *o)
{
    if (o->config_loaded)
        return;
    o->config_loaded = true;
    const char *dir = o->config_dir;
    if (dir == NULL)
        dir = getenv("MAIL_CONFIG");
    if (dir == NULL)
        dir = TERN_SYSCONFDIR;
    if (config_load(dir) < 0)
        msg_fatal("cannot load the configuration from %s", dir);
}

/* Where the file for arg is: a queue ID in the queue, else a path. */
static char *tc_locate(struct tc_opts *o, const char *arg)
{
    if (!queue_id_valid(arg))
        return xstrdup(arg);
    tc_config(o);
    const char *queue = cfg_str("queue_directory");
    for (size_t i = 0; i < N_ELEMENTS(tc_queues); i++) {
        char *path = xasprintf("%s/%s/%s", queue, tc_queues[i], arg);
        struct stat st;
        if (lstat(path, &st) == 0)
            return path;
        free(path);
    }
    struct stat st;
    if (lstat(arg, &st) == 0)
        return xstrdup(arg); /* a file in the current directory */
    msg_error("%s: not found in the queue (%s)", arg, queue);
    return NULL;
}

static int tc_cat(struct tc_opts *o, const char *arg)
{
    char *path = tc_locate(o, arg);
    if (path == NULL)
        return -1;
    qfile_t *qf = NULL;
    char *error = NULL;
    int rc = qfile_open(path, QFILE_OPEN_ANY_MODE, &qf, &error);
    if (rc < 0) {
        if (rc == QFILE_CORRUPT)
            msg_error("corrupt or incomplete queue file: %s", error);
        else
            msg_error("%s", error);
        free(error);
        free(path);
        return -1;
    }
    rc = tc_show(o, qf, path);
    qfile_close(&qf);
    free(path);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("terncat");
    log_open("tern", "/dev/stderr");
    struct tc_opts o = {0};
    int c;
    while ((c = getopt(argc, argv, "bc:ehv")) != -1) {
        switch (c) {
        case 'b':
            o.show |= TC_SHOW_BODY;
            break;
        case 'c':
            o.config_dir = optarg;
            break;
        case 'e':
            o.show |= TC_SHOW_ENVELOPE;
            break;
        case 'h':
            o.show |= TC_SHOW_HEADER;
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        default:
            tc_usage();
        }
    }
    if (optind >= argc)
        tc_usage();
    if (o.show == 0)
        o.show = TC_SHOW_ENVELOPE | TC_SHOW_HEADER | TC_SHOW_BODY;
    int status = 0;
    for (int i = optind; i < argc; i++)
        if (tc_cat(&o, argv[i]) < 0)
            status = 1;
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %s", strerror(errno));
    return status;
}

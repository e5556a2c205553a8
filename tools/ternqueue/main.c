/*
 * main.c - ternqueue, the queue tool (postqueue(1) and postsuper(1) in
 * one):
 *
 *   ternqueue [-c DIR] -p                 list the queue (mailq)
 *   ternqueue [-c DIR] -j                 list it as JSON, one message a line
 *   ternqueue [-c DIR] -f                 flush: retry deferred mail now
 *   ternqueue [-c DIR] -i ID              deliver one deferred message now
 *   ternqueue [-c DIR] -d ID|ALL|- [queue...]   delete       (admin only)
 *   ternqueue [-c DIR] -h ID|ALL|- [queue...]   hold         (admin only)
 *   ternqueue [-c DIR] -H ID|ALL|- [queue...]   release hold (admin only)
 *   ternqueue [-c DIR] -r ID|ALL|- [queue...]   requeue      (admin only)
 *
 * -d/-h/-H/-r may be repeated and combined; they run in command-line
 * order.  Invoked as "mailq" it lists the queue.  Exit status 0, or 1
 * on any error.
 */
#include "sys.h"

#include <getopt.h>
#include <libgen.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "ternqueue.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

enum tq_mode { TQ_NONE, TQ_LIST, TQ_JSON, TQ_FLUSH, TQ_DELIVER, TQ_ADMIN };

struct tq_opts {
    enum tq_mode mode;
    const char *config_dir;
    const char *deliver_id;
    struct tq_action *acts;
    size_t nacts;
};

static void tq_usage(void)
{
    fprintf(stderr,
            "usage: ternqueue [-c config_dir] -p | -j | -f | -i queue_id\n"
            "       ternqueue [-c config_dir] [-d|-h|-H|-r queue_id|ALL|-]... [queue...]\n");
    exit(1);
}

static void tq_set_mode(struct tq_opts *o, enum tq_mode mode)
{
    if (o->mode != TQ_NONE && o->mode != mode)
        msg_fatal("-p, -j, -f, -i and the -d/-h/-H/-r group exclude each other");
    o->mode = mode;
}

static void tq_add_action(struct tq_opts *o, int op, const char *id)
{
    tq_set_mode(o, TQ_ADMIN);
    o->acts = xreallocarray(o->acts, o->nacts + 1, sizeof(*o->acts));
    o->acts[o->nacts].op = (enum tq_op)op;
    o->acts[o->nacts].id = id;
    o->nacts++;
}

static void tq_parse(struct tq_opts *o, int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "c:d:fh:H:i:jpr:v")) != -1) {
        switch (c) {
        case 'c':
            o->config_dir = optarg;
            break;
        case 'd':
        case 'h':
        case 'H':
        case 'r':
            tq_add_action(o, c, optarg);
            break;
        case 'f':
            tq_set_mode(o, TQ_FLUSH);
            break;
        case 'i':
            tq_set_mode(o, TQ_DELIVER);
            o->deliver_id = optarg;
            break;
        case 'j':
            tq_set_mode(o, TQ_JSON);
            break;
        case 'p':
            tq_set_mode(o, TQ_LIST);
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        default:
            tq_usage();
        }
    }
    if (o->mode == TQ_NONE)
        tq_usage();
    if (optind < argc && o->mode != TQ_ADMIN)
        tq_usage();
}

/* Load main.cf, log where it says (and to stderr), enter the queue. */
static void tq_setup(const struct tq_opts *o)
{
    const char *dir = o->config_dir;
    if (dir == NULL)
        dir = getenv("MAIL_CONFIG");
    if (dir == NULL)
        dir = TERN_SYSCONFDIR;
    if (config_load(dir) < 0)
        msg_fatal("cannot load the configuration from %s", dir);
    if (log_open("tern", cfg_str("maillog_file")) == 0)
        log_also_stderr(true);
    else
        log_open("tern", "/dev/stderr");
    const char *queue = cfg_str("queue_directory");
    if (chdir(queue) < 0)
        msg_fatal("cannot enter the queue directory %s: %s", queue, strerror(errno));
}

int main(int argc, char **argv)
{
    log_init("ternqueue");
    log_open("tern", "/dev/stderr");
    struct tq_opts o = {.mode = TQ_NONE};
    char *me = xstrdup(argv[0]);
    if (strcmp(basename(me), "mailq") == 0)
        o.mode = TQ_LIST;
    free(me);
    tq_parse(&o, argc, argv);
    tq_setup(&o);
    int status = 0;
    switch (o.mode) {
    case TQ_LIST:
    case TQ_JSON:
        status = tq_list(o.mode == TQ_JSON);
        break;
    case TQ_FLUSH:
        status = tq_flush();
        break;
    case TQ_DELIVER:
        status = tq_deliver_one(o.deliver_id);
        break;
    case TQ_ADMIN:
        tq_require_admin("delete, hold, release or requeue mail");
        status = tq_admin(o.acts, o.nacts, argv + optind);
        break;
    case TQ_NONE:
        tq_usage();
    }
    free(o.acts);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %s", strerror(errno));
    return status;
}

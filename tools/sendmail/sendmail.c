/*
 * sendmail.c - the Sendmail-compatible mail submission command:
 * option parsing and dispatch.  Invoked as "mailq" it lists the queue
 * (-bp), as "newaliases" it rebuilds the aliases (-bi).
 *
 * sendmail needs no privilege: a message goes through the setgid
 * terndrop(1) into the maildrop directory, where pickup(8) finds it.
 */
#include "sys.h"

#include <getopt.h>
#include <pwd.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "sendmail.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

static void sendmail_usage(const char *why)
{
    if (why)
        fprintf(stderr, "sendmail: %s\n", why);
    fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] [-F full_name] [-C config] [-N dsn]\n"
                    "                [-R ret] [-V envid] [-v] [-o option] [recipient...]\n"
                    "       sendmail -bp | -bi | -bs | -bv address... | -q\n");
    exit(EX_USAGE);
}

/* Strip "Name <addr>" and "<addr>" to addr (in place). */
static char *sendmail_bare_addr(char *s)
{
    char *lt = strrchr(s, '<');
    if (lt != NULL) {
        char *gt = strchr(lt, '>');
        if (gt != NULL) {
            *gt = '\0';
            return lt + 1;
        }
    }
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* One command-line recipient argument: a comma-separated list. */
static void sendmail_add_rcpts(struct maildrop_request *r, const char *arg)
{
    char *copy = xstrdup(arg), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *a = sendmail_bare_addr(tok);
        if (*a != '\0')
            maildrop_request_add_rcpt(r, a);
    }
    free(copy);
}

static void sendmail_set(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

static void sendmail_sender(struct sendmail_opts *o, const char *arg)
{
    char *copy = xstrdup(arg);
    sendmail_set(&o->req.sender, sendmail_bare_addr(copy));
    free(copy);
    o->sender_given = true;
}

static void sendmail_opt_b(struct sendmail_opts *o, const char *arg)
{
    static const struct {
        const char *name;
        enum sendmail_mode mode;
    } modes[] = {{"m", SM_DELIVER}, {"p", SM_QUEUE}, {"i", SM_ALIASES},
                 {"v", SM_VERIFY},  {"s", SM_SMTP},  {"a", SM_SMTP}};
    for (size_t i = 0; i < N_ELEMENTS(modes); i++)
        if (strcmp(arg, modes[i].name) == 0) {
            o->mode = modes[i].mode;
            return;
        }
    if (strcmp(arg, "d") == 0 || strcmp(arg, "D") == 0)
        sendmail_usage("-bd: daemon mode is `tern start`");
    sendmail_usage("unsupported -b mode");
}

/* -o options: -oi is honoured, the rest accepted and ignored as sendmail does. */
static void sendmail_opt_o(struct sendmail_opts *o, const char *arg)
{
    if (strcmp(arg, "i") == 0)
        o->dot_ends = false;
}

static void sendmail_opt(struct sendmail_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'b':
        sendmail_opt_b(o, arg);
        break;
    case 'C':
        o->config_dir = arg;
        break;
    case 'F':
        sendmail_set(&o->req.full_name, arg);
        break;
    case 'f':
    case 'r':
        sendmail_sender(o, arg);
        break;
    case 'I':
        o->mode = SM_ALIASES;
        break;
    case 'i':
        o->dot_ends = false;
        break;
    case 'N':
        sendmail_set(&o->req.notify, arg);
        break;
    case 'o':
        sendmail_opt_o(o, arg);
        break;
    case 'q':
        if (arg == NULL)
            o->mode = SM_FLUSH;
        break; /* -qINTERVAL: ignored, as Postfix does */
    case 'R':
        sendmail_set(&o->req.ret, arg);
        break;
    case 't':
        o->req.extract_recipients = true;
        break;
    case 'V':
        sendmail_set(&o->req.envid, arg);
        break;
    case 'v':
        o->verbose++;
        break;
    case 'X':
        fprintf(stderr, "sendmail: warning: -X option ignored\n");
        break;
    case 'A':
    case 'B':
    case 'G':
    case 'h':
    case 'L':
    case 'n':
    case 'p':
    case 'U':
        break; /* accepted for compatibility, no effect */
    default:
        sendmail_usage(NULL);
    }
}

static void sendmail_parse(struct sendmail_opts *o, int argc, char **argv)
{
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+A:B:b:C:F:f:GIh:iL:N:no:p:q::R:r:tUV:vX:")) != -1) {
        if (c == '?' || c == ':')
            sendmail_usage(optopt ? "bad option or missing argument" : NULL);
        sendmail_opt(o, c, optarg);
    }
    for (int i = optind; i < argc; i++)
        sendmail_add_rcpts(&o->req, argv[i]);
}

/* -C may name main.cf itself or its directory. */
static const char *sendmail_config_dir(const char *arg)
{
    if (arg == NULL) {
        const char *env = getenv("MAIL_CONFIG");
        return env && *env ? env : TERN_SYSCONFDIR;
    }
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
        char *copy = xstrdup(arg), *slash = strrchr(copy, '/');
        if (slash == NULL)
            return ".";
        if (slash == copy)
            slash[1] = '\0';
        else
            *slash = '\0';
        return copy; /* kept for the life of the process */
    }
    return arg;
}

static void sendmail_default_sender(struct sendmail_opts *o)
{
    if (o->sender_given)
        return;
    struct passwd *pw = getpwuid(getuid());
    if (pw != NULL)
        o->req.sender = xstrdup(pw->pw_name);
    else
        o->req.sender = xasprintf("%ld", (long)getuid());
}

static const char *sendmail_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int sendmail_run(struct sendmail_opts *o)
{
    switch (o->mode) {
    case SM_QUEUE:
        return sendmail_mailq(o);
    case SM_ALIASES:
        return sendmail_newaliases(o);
    case SM_VERIFY:
        return sendmail_verify(o);
    case SM_FLUSH:
        return sendmail_flush(o);
    case SM_SMTP:
        return sendmail_smtp(o);
    case SM_DELIVER:
        break;
    }
    if (o->req.rcpt_count == 0 && !o->req.extract_recipients)
        sendmail_usage(
            "Recipient addresses must be specified on the command line or via the -t option");
    return sendmail_deliver(o);
}

int main(int argc, char **argv)
{
    struct sendmail_opts o = {.mode = SM_DELIVER, .dot_ends = true};
    const char *me = sendmail_basename(argc > 0 ? argv[0] : "sendmail");
    log_init("sendmail");
    log_open("", "/dev/stderr");
    if (strcmp(me, "mailq") == 0)
        o.mode = SM_QUEUE;
    else if (strcmp(me, "newaliases") == 0)
        o.mode = SM_ALIASES;
    sendmail_parse(&o, argc, argv);
    o.config_dir = sendmail_config_dir(o.config_dir);
    if (config_load(o.config_dir) < 0)
        return EX_CONFIG;
    log_set_verbose(o.verbose);
    sendmail_default_sender(&o);
    int rc = sendmail_run(&o);
    maildrop_request_clear(&o.req);
    return rc;
}

/*
 * init.c - `tern init DIR`: create a self-contained instance in DIR.
 *
 * DIR becomes the configuration directory: main.cf, master.cf, the queue,
 * Maildirs under mail/, the log under log/, the user database and the
 * postmaster/abuse aliases (aliases.c), and a self-signed TLS key and
 * certificate under tls/ (made once: an existing pair is kept, so a real
 * one may replace it).  Every listener is on 127.0.0.1
 * at --port-base plus its standard port.  The
 * services come from one table; a service is written enabled only when
 * its daemon exists in daemon_directory, so a new daemon lights up in new
 * instances by existing (and in old ones after `tern init --force`).
 */
#include "sys.h"

#include <strings.h>

#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "tern.h"
#include "tls.h"

#ifndef TERN_LIBEXECDIR
#define TERN_LIBEXECDIR "/usr/libexec/tern"
#endif
#ifndef TERN_BINDIR
#define TERN_BINDIR "/usr/bin"
#endif

#define INIT_DEFAULT_DOMAIN "example.test"
#define INIT_ROOT_OWNER "tern"
#define INIT_MAX_OFFSET 995 /* the largest standard port in the table */

const struct tern_service tern_services[] = {
    /* name, type, port, private, unpriv, chroot, wakeup, maxproc, daemon, args */
    {"smtp", "inet", 25, "n", "-", "n", "-", "-", "smtpd", ""},
    /* submission and smtps: AUTH over TLS, relay only for logged-in users,
     * each of whom may only use their own envelope senders. */
    {"submission", "inet", 587, "n", "-", "n", "-", "-", "smtpd",
     "-o syslog_name=tern/submission -o smtpd_tls_security_level=encrypt "
     "-o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes "
     "-o smtpd_sender_restrictions=reject_sender_login_mismatch "
     "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject "
     "-o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"},
    {"smtps", "inet", 465, "n", "-", "n", "-", "-", "smtpd",
     "-o syslog_name=tern/smtps -o smtpd_tls_wrappermode=yes "
     "-o smtpd_sasl_auth_enable=yes "
     "-o smtpd_sender_restrictions=reject_sender_login_mismatch "
     "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject "
     "-o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"},
    /* pop3d: unpriv n, its session parent forks the mail process as the mailbox owner. */
    {"pop3", "inet", 110, "n", "n", "n", "-", "-", "pop3d", ""},
    {"pop3s", "inet", 995, "n", "n", "n", "-", "-", "pop3d", "-o pop3d_tls_wrappermode=yes"},
    {"imap", "inet", 143, "n", "-", "n", "-", "-", "imapd", ""},
    {"imaps", "inet", 993, "n", "-", "n", "-", "-", "imapd", "-o imapd_tls_wrappermode=yes"},
    {"pickup", "unix", 0, "n", "-", "n", "60", "1", "pickup", ""},
    {"cleanup", "unix", 0, "-", "-", "n", "-", "0", "cleanup", ""},
    {"qmgr", "unix", 0, "n", "-", "n", "300", "1", "qmgr", ""},
    {"bounce", "unix", 0, "-", "-", "n", "-", "0", "bounce", ""},
    {"smtp", "unix", 0, "-", "-", "n", "-", "-", "smtp", ""},
    {"relay", "unix", 0, "-", "-", "n", "-", "-", "smtp", "-o syslog_name=tern/relay"},
    {"local", "unix", 0, "-", "n", "n", "-", "-", "local", ""},
    {"auth", "unix", 0, "-", "-", "n", "-", "1", "authd", ""},
};
const size_t tern_services_count = N_ELEMENTS(tern_services);

struct init_args {
    const char *dir;
    long port_base; /* -1: not given */
    const char *domain;
    const char *mail_owner;
    bool force;
    bool outbound; /* real delivery to other domains, no catch-all */
    const char **user_specs;
    size_t nusers;
};

/* What the instance will look like, all absolute paths. */
struct init_plan {
    char *dir, *queue, *mail, *log_dir, *log_file, *daemon_dir, *command_dir;
    char *tls_dir, *tls_key, *tls_cert;
    char *owner;
    uid_t uid;
    gid_t gid;
    const char *domain;
    str_t *domains; /* virtual_mailbox_domains: domain and the users' domains */
    char *hostname;
    long port_base;
    char *postmaster;     /* where role addresses go: the first user, else a postmaster mailbox */
    bool postmaster_made; /* no user: a login-less postmaster mailbox was made */
    char *catchall;       /* sandbox: where mail for other domains goes; NULL: --outbound */
};

static int init_usage(void)
{
    msg_error("usage: tern init DIR [--port-base N] [--domain D] "
              "[--user ADDR[:PASSWORD]]... [--mail-owner USER] [--outbound] [--force]");
    return TERN_EXIT_USAGE;
}

/* "--name value" or "--name=value"; advances *i past a separate value. */
static const char *init_optval(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int init_parse_port(const char *text, long *port_r)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v + INIT_MAX_OFFSET > 65535) {
        msg_error("--port-base %s: need a number from 0 to %d", text, 65535 - INIT_MAX_OFFSET);
        return -1;
    }
    *port_r = v;
    return 0;
}

static int init_parse_args(int argc, char **argv, struct init_args *a)
{
    a->port_base = -1;
    a->user_specs = xcalloc((size_t)argc + 1, sizeof(*a->user_specs));
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = init_optval(argc, argv, &i, "--port-base")) != NULL) {
            if (init_parse_port(v, &a->port_base) < 0)
                return -1;
        } else if ((v = init_optval(argc, argv, &i, "--domain")) != NULL)
            a->domain = v;
        else if ((v = init_optval(argc, argv, &i, "--user")) != NULL)
            a->user_specs[a->nusers++] = v;
        else if ((v = init_optval(argc, argv, &i, "--mail-owner")) != NULL)
            a->mail_owner = v;
        else if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
            a->force = true;
        else if (strcmp(argv[i], "--outbound") == 0)
            a->outbound = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            msg_error("init: unknown option or missing value: %s", argv[i]);
            return -1;
        } else if (a->dir == NULL)
            a->dir = argv[i];
        else {
            msg_error("init: more than one directory given (%s, %s)", a->dir, argv[i]);
            return -1;
        }
    }
    return a->dir == NULL ? -1 : 0;
}

/* Paths go into main.cf values unquoted: keep out what would change them. */
static int init_check_path(const char *path)
{
    if (strpbrk(path, "$ \t\r\n,\"'#") != NULL) {
        msg_error("%s: the instance path may not contain '$', quotes, '#', commas or white space",
                  path);
        return -1;
    }
    return 0;
}

static bool init_valid_domain(const char *d)
{
    if (*d == '\0' || *d == '.' || *d == '-' || strlen(d) > 253 || strstr(d, "..") != NULL)
        return false;
    return strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
           strlen(d);
}

/* The libexec directory next to this binary when run from the build tree. */
static void init_find_dirs(struct init_plan *p)
{
    char *self = tern_self_dir();
    if (self != NULL) {
        char *libexec = xasprintf("%s/../libexec", self);
        char *master = xasprintf("%s/master", libexec);
        char *real = tern_is_executable(master) ? realpath(libexec, NULL) : NULL;
        if (real != NULL) {
            p->daemon_dir = real;
            p->command_dir = xstrdup(self);
        }
        free(master);
        free(libexec);
        free(self);
    }
    if (p->daemon_dir == NULL) {
        p->daemon_dir = xstrdup(TERN_LIBEXECDIR);
        p->command_dir = xstrdup(TERN_BINDIR);
    }
}

/*
 * mail_owner: the invoking user; as root the default "tern", or "nobody"
 * when no such user exists (so that a root sandbox still runs).
 */
static int init_find_owner(struct init_plan *p, const char *requested)
{
    struct passwd *pw;
    if (requested != NULL)
        pw = getpwnam(requested);
    else if (getuid() != 0)
        pw = getpwuid(getuid());
    else if ((pw = getpwnam(INIT_ROOT_OWNER)) == NULL) {
        msg_warn("user \"%s\" does not exist (create it with: useradd --system --no-create-home "
                 "--shell /usr/sbin/nologin %s); using \"nobody\" as mail_owner for now, "
                 "which is fit for a sandbox only",
                 INIT_ROOT_OWNER, INIT_ROOT_OWNER);
        pw = getpwnam("nobody");
    }
    if (pw == NULL) {
        msg_error("cannot find the mail_owner user %s", requested ? requested : "(invoking user)");
        return -1;
    }
    if (pw->pw_uid == 0) {
        msg_error("mail_owner may not be root; use --mail-owner USER");
        return -1;
    }
    p->owner = xstrdup(pw->pw_name);
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    return 0;
}

static int init_make_plan(const struct init_args *a, struct init_plan *p)
{
    if (init_check_path(a->dir) < 0 || tern_mkdir(a->dir, 0755) < 0)
        return -1;
    p->dir = realpath(a->dir, NULL);
    if (p->dir == NULL) {
        msg_error("%s: %s", a->dir, strerror(errno));
        return -1;
    }
    if (init_check_path(p->dir) < 0)
        return -1;
    p->queue = xasprintf("%s/queue", p->dir);
    p->mail = xasprintf("%s/mail", p->dir);
    p->log_dir = xasprintf("%s/log", p->dir);
    p->log_file = xasprintf("%s/tern.log", p->log_dir);
    p->tls_dir = xasprintf("%s/tls", p->dir);
    p->tls_key = xasprintf("%s/key.pem", p->tls_dir);
    p->tls_cert = xasprintf("%s/cert.pem", p->tls_dir);
    p->domain = a->domain ? a->domain : INIT_DEFAULT_DOMAIN;
    if (!init_valid_domain(p->domain)) {
        msg_error("--domain %s: not a valid domain name", p->domain);
        return -1;
    }
    p->hostname = a->domain ? xasprintf("mail.%s", a->domain) : xstrdup("localhost");
    p->port_base = a->port_base;
    init_find_dirs(p);
    return init_find_owner(p, a->mail_owner);
}

static void init_plan_free(struct init_plan *p)
{
    free(p->dir);
    free(p->queue);
    free(p->mail);
    free(p->log_dir);
    free(p->log_file);
    free(p->tls_dir);
    free(p->tls_key);
    free(p->tls_cert);
    free(p->daemon_dir);
    free(p->command_dir);
    free(p->owner);
    free(p->hostname);
    free(p->postmaster);
    free(p->catchall);
    if (p->domains != NULL)
        str_free(&p->domains);
}

static char *init_main_cf(const struct init_plan *p)
{
    char stamp[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
    str_t *s = str_new(2048);
    str_appendf(s,
                "# main.cf - generated by `tern init` on %s.\n"
                "# A self-contained tern instance: configuration, queue, mailboxes\n"
                "# and log all live under %s.  Edit freely, then run\n"
                "# `tern -c %s check` and `tern -c %s reload`.\n\n",
                stamp, p->dir, p->dir, p->dir);
    str_appendf(s, "config_directory = %s\n", p->dir);
    str_appendf(s, "queue_directory = %s\n", p->queue);
    str_appendf(s, "daemon_directory = %s\n", p->daemon_dir);
    str_appendf(s, "command_directory = %s\n", p->command_dir);
    str_appendf(s, "mail_owner = %s\n", p->owner);
    str_appendf(s, "maillog_file = %s\n", p->log_file);
    str_appendf(s, "myhostname = %s\n", p->hostname);
    str_appendf(s, "mydomain = %s\n", p->domain);
    str_appendf(s, "inet_interfaces = 127.0.0.1\n");
    str_appendf(s, "\n# Mailboxes of the users created by `tern init --user`.\n");
    str_appendf(s, "virtual_mailbox_domains = %s\n", str_c(p->domains));
    str_appendf(s, "virtual_mailbox_base = %s\n", p->mail);
    str_appendf(s, "virtual_mailbox_maps = texthash:%s/vmailbox\n", p->dir);
    str_appendf(s, "virtual_uid_maps = static:%ld\n", (long)p->uid);
    str_appendf(s, "virtual_gid_maps = static:%ld\n", (long)p->gid);
    str_appendf(s, "# Who may use which envelope sender after SMTP AUTH (submission, smtps).\n");
    str_appendf(s, "smtpd_sender_login_maps = texthash:%s/sender_logins\n", p->dir);
    str_appendf(s,
                "\n# postmaster, abuse, hostmaster and MAILER-DAEMON of every domain, and\n"
                "# the local root and postmaster, go to %s.\n",
                p->postmaster);
    if (p->catchall != NULL) {
        str_appendf(s,
                    "# A sandbox: mail for every other domain goes to %s instead of\n"
                    "# leaving the machine (%s/catchall).  `tern init --outbound`\n"
                    "# makes an instance without it.\n",
                    p->catchall, p->dir);
        str_appendf(s, "virtual_alias_maps = texthash:%s/virtual, regexp:%s/catchall\n", p->dir,
                    p->dir);
    } else {
        str_appendf(s, "virtual_alias_maps = texthash:%s/virtual\n", p->dir);
    }
    str_appendf(s, "alias_maps = texthash:%s/aliases\n", p->dir);
    str_appendf(s, "alias_database = texthash:%s/aliases\n", p->dir);
    str_appendf(s,
                "\n# TLS: a self-signed certificate for %s made by `tern init`;\n"
                "# point these at a real key and certificate (chain) to replace it.\n",
                p->hostname);
    str_appendf(s, "smtpd_tls_cert_file = %s\n", p->tls_cert);
    str_appendf(s, "smtpd_tls_key_file = %s\n", p->tls_key);
    str_appendz(s, "smtpd_tls_security_level = may\n");
    str_appendz(s, "smtpd_tls_received_header = yes\n");
    return str_steal(&s);
}

static void init_service_line(str_t *s, const struct tern_service *svc, const char *name,
                              bool enabled)
{
    str_appendf(s, "%s%-19s %-5s %-7s %-7s %-7s %-7s %-7s %s%s%s\n", enabled ? "" : "#", name,
                svc->type, svc->priv, svc->unpriv, svc->chroot, svc->wakeup, svc->maxproc,
                svc->daemon, *svc->args ? " " : "", svc->args);
}

static char *init_master_cf(const struct init_plan *p)
{
    str_t *s = str_new(4096);
    str_appendf(s,
                "# master.cf - generated by `tern init` for %s.\n"
                "# Services whose daemon is not in %s yet are\n"
                "# commented out; `tern init --force` rewrites this file.\n#\n",
                p->dir, p->daemon_dir);
    str_appendz(s,
                "# service           type  private unpriv  chroot  wakeup  maxproc command + args\n"
                "#                         (yes)   (yes)   (no)    (never) (100)\n");
    for (size_t i = 0; i < tern_services_count; i++) {
        const struct tern_service *svc = &tern_services[i];
        char *path = xasprintf("%s/%s", p->daemon_dir, svc->daemon);
        bool enabled = tern_is_executable(path);
        char *name = strcmp(svc->type, "inet") == 0
                         ? xasprintf("127.0.0.1:%ld", p->port_base + svc->port_offset)
                         : xstrdup(svc->name);
        if (!enabled)
            str_appendf(s, "# enable when %s exists (%s)\n", svc->daemon, svc->name);
        init_service_line(s, svc, name, enabled);
        free(name);
        free(path);
    }
    return str_steal(&s);
}

static int init_write_cf(const struct init_plan *p)
{
    char *main_cf = init_main_cf(p), *master_cf = init_master_cf(p);
    char *main_path = xasprintf("%s/main.cf", p->dir);
    char *master_path = xasprintf("%s/master.cf", p->dir);
    int rc = tern_write_file(main_path, main_cf, strlen(main_cf), 0644);
    if (rc == 0)
        rc = tern_write_file(master_path, master_cf, strlen(master_cf), 0644);
    free(main_cf);
    free(master_cf);
    free(main_path);
    free(master_path);
    return rc;
}

/* Directories owned by mail_owner when we are root. */
static int init_owned_dir(const char *path, mode_t mode, const struct init_plan *p)
{
    if (tern_mkdir(path, mode) < 0)
        return -1;
    if (getuid() == 0 && chown(path, p->uid, p->gid) < 0) {
        msg_error("chown %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int init_make_dirs(const struct init_plan *p)
{
    if (tern_mkdir(p->queue, 0755) < 0 || init_owned_dir(p->mail, 0700, p) < 0 ||
        init_owned_dir(p->log_dir, 0750, p) < 0)
        return -1;
    return 0;
}

/* The instance's TLS key and certificate: made once, kept after that. */
static int init_make_tls(const struct init_plan *p)
{
    struct stat st;
    if (tern_mkdir(p->tls_dir, 0755) < 0)
        return -1;
    if (stat(p->tls_key, &st) == 0 && stat(p->tls_cert, &st) == 0)
        return 0;
    char *err = NULL;
    if (tls_cert_selfsigned(p->hostname, TLS_KEY_ECDSA, 3650, p->tls_key, p->tls_cert, &err) < 0) {
        msg_error("TLS certificate: %s", err);
        free(err);
        return -1;
    }
    return 0;
}

static int init_parse_users(const struct init_args *a, const struct init_plan *p,
                            struct tern_user *users)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (tern_user_parse(a->user_specs[i], p->domain, &users[i]) < 0)
            return -1;
    return 0;
}

/*
 * DIR/sender_logins (smtpd_sender_login_maps): every user in the users
 * file owns their own address as envelope sender, and no other.
 */
static int init_sender_logins(const struct init_plan *p)
{
    char **users = tern_users_list(p->dir);
    str_t *s = str_new(256);
    str_appendz(s, "# sender_logins - generated by `tern init`: envelope sender, then the\n"
                   "# login names that may use it after SMTP AUTH (smtpd_sender_login_maps,\n"
                   "# a texthash table; the key may also be @domain).\n");
    for (size_t i = 0; users[i] != NULL; i++)
        str_appendf(s, "%s %s\n", users[i], users[i]);
    char *path = xasprintf("%s/sender_logins", p->dir);
    int rc = tern_write_file(path, str_c(s), str_len(s), 0644);
    free(path);
    str_free(&s);
    cfg_list_free(&users);
    return rc;
}

static int init_users(const struct init_args *a, struct init_plan *p, struct tern_user *users)
{
    p->domains = str_new(64);
    str_appendz(p->domains, p->domain);
    if (tern_users_write(p->dir, users, a->nusers, p->uid, p->gid, p->domains) < 0)
        return -1;
    return init_sender_logins(p);
}

/*
 * The role addresses' mailbox: the first --user, else the first user the
 * instance already has, else a new postmaster mailbox without a login,
 * so that mail to postmaster is never lost.
 */
static int init_aliases(const struct init_args *a, struct init_plan *p,
                        const struct tern_user *users)
{
    /* Mailboxes without a login are written in one go: the users file
     * does not list them, so a second write would drop the first. */
    struct tern_user boxes[2];
    size_t nboxes = 0;
    char **existing = tern_users_list(p->dir);
    if (a->nusers > 0) {
        p->postmaster = xasprintf("%s@%s", users[0].local, users[0].domain);
    } else if (existing[0] != NULL) {
        p->postmaster = xstrdup(existing[0]);
    } else {
        boxes[nboxes++] = (struct tern_user){
            .local = xstrdup("postmaster"), .domain = xstrdup(p->domain), .no_login = true};
        p->postmaster = xasprintf("postmaster@%s", p->domain);
        p->postmaster_made = true;
    }
    if (!a->outbound) {
        p->catchall = xasprintf("catchall@%s", p->domain);
        bool exists = false;
        for (char **u = existing; *u != NULL; u++)
            exists = exists || strcasecmp(*u, p->catchall) == 0;
        if (!exists)
            boxes[nboxes++] = (struct tern_user){
                .local = xstrdup("catchall"), .domain = xstrdup(p->domain), .no_login = true};
    }
    cfg_list_free(&existing);
    int rc = 0;
    if (nboxes > 0)
        rc = tern_users_write(p->dir, boxes, nboxes, p->uid, p->gid, p->domains);
    for (size_t i = 0; i < nboxes; i++)
        tern_user_clear(&boxes[i]);
    if (rc == 0)
        rc = tern_aliases_write(p->dir, p->postmaster, p->domains);
    if (rc == 0 && p->catchall != NULL)
        rc = tern_catchall_write(p->dir, p->catchall, p->domains, p->hostname);
    return rc;
}

static void init_summary(const struct init_args *a, const struct init_plan *p,
                         const struct tern_user *users)
{
    printf("tern: created an instance in %s\n", p->dir);
    printf("  config     %s/main.cf, %s/master.cf\n", p->dir, p->dir);
    printf("  queue      %s\n", p->queue);
    printf("  mailboxes  %s\n", p->mail);
    printf("  log        %s\n", p->log_file);
    printf("  tls        %s (self-signed for %s), %s\n", p->tls_cert, p->hostname, p->tls_key);
    printf("  users      %s/users\n", p->dir);
    printf("  aliases    %s/virtual, %s/aliases: postmaster, abuse, ... -> %s%s\n", p->dir, p->dir,
           p->postmaster, p->postmaster_made ? " (a mailbox without login)" : "");
    if (p->catchall != NULL)
        printf("  sandbox    mail for other domains is caught in %s (--outbound: sent)\n",
               p->catchall);
    printf("  daemons    %s\n", p->daemon_dir);
    printf("  mail_owner %s, domain %s\n", p->owner, p->domain);
    printf("services on 127.0.0.1:\n");
    for (size_t i = 0; i < tern_services_count; i++) {
        const struct tern_service *svc = &tern_services[i];
        if (strcmp(svc->type, "inet") != 0)
            continue;
        char *path = xasprintf("%s/%s", p->daemon_dir, svc->daemon);
        printf("  %-11s %5ld%s\n", svc->name, p->port_base + svc->port_offset,
               tern_is_executable(path) ? "" : "  (not yet: no such daemon)");
        free(path);
    }
    for (size_t i = 0; i < a->nusers; i++)
        printf("user %s@%s%s%s\n", users[i].local, users[i].domain,
               users[i].generated ? " password: " : "",
               users[i].generated ? users[i].password : "");
    printf("start it with: tern -c %s start\n", p->dir);
}

static int init_refuse_existing(const struct init_plan *p, bool force)
{
    char *main_path = xasprintf("%s/main.cf", p->dir);
    struct stat st;
    int rc = 0;
    if (!force && lstat(main_path, &st) == 0) {
        msg_error("%s already exists; use --force to overwrite it", main_path);
        rc = -1;
    }
    free(main_path);
    return rc;
}

static int init_port_base(struct init_args *a)
{
    if (a->port_base >= 0)
        return 0;
    if (getuid() == 0) {
        a->port_base = 0;
        return 0;
    }
    msg_error("only root may listen on the standard ports; use --port-base N "
              "(e.g. --port-base 2000 for smtp on 2025, imap on 2143)");
    return -1;
}

int tern_cmd_init(int argc, char **argv)
{
    struct init_args a = {0};
    struct init_plan p = {0};
    struct tern_user *users = NULL;
    int rc = TERN_EXIT_FAIL;
    if (init_parse_args(argc, argv, &a) < 0) {
        rc = init_usage();
        goto out;
    }
    if (init_port_base(&a) < 0 || init_make_plan(&a, &p) < 0 ||
        init_refuse_existing(&p, a.force) < 0)
        goto out;
    if (p.port_base < 1024 && getuid() != 0)
        msg_warn("ports below 1024 normally need root");
    users = xcalloc(a.nusers + 1, sizeof(*users));
    if (init_parse_users(&a, &p, users) < 0)
        goto out;
    if (init_make_dirs(&p) < 0 || init_make_tls(&p) < 0 || init_users(&a, &p, users) < 0 ||
        init_aliases(&a, &p, users) < 0 || init_write_cf(&p) < 0)
        goto out;
    /* Create the queue layout exactly as `tern check` would. */
    tern_opts.config_dir = p.dir;
    if (tern_check_instance(false) < 0)
        msg_warn("the new instance did not pass `tern check`; see above");
    init_summary(&a, &p, users);
    rc = TERN_EXIT_OK;
out:
    for (size_t i = 0; users != NULL && i < a.nusers; i++)
        tern_user_clear(&users[i]);
    free(users);
    free(a.user_specs);
    init_plan_free(&p);
    return rc;
}

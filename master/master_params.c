/*
 * master_params.c - the main.cf values master uses, copied into one
 * struct so that a failed reload leaves the running master untouched.
 */
#include "master.h"
#include "config.h"
#include "log.h"
#include "mem.h"

#include <pwd.h>

/* A string parameter, or def when the table does not know it (yet). */
static char *param_str(const char *name, const char *def)
{
    return xstrdup(param_find(name) != NULL ? cfg_str(name) : def);
}

static long long param_int(const char *name, long long def)
{
    return param_find(name) != NULL ? cfg_int(name) : def;
}

static long long param_time(const char *name, long long def)
{
    return param_find(name) != NULL ? cfg_time(name) : def;
}

/* A list parameter as our own NULL-terminated copy (free with list_free). */
static char **param_list(const char *name, const char *def)
{
    if (param_find(name) == NULL) {
        char **v = xcalloc(2, sizeof(*v));
        v[0] = xstrdup(def);
        return v;
    }
    char **cl = cfg_list(name);
    size_t n = 0;
    while (cl[n] != NULL)
        n++;
    char **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(cl[i]);
    cfg_list_free(&cl);
    return v;
}

static void list_free(char ***vp)
{
    if (*vp == NULL)
        return;
    for (char **v = *vp; *v; v++)
        free(*v);
    xfree(*vp);
}

/* inet_protocols: all, ipv4, ipv6, or a list of the latter two. */
static int params_protocols(struct master_params *p)
{
    char **list = param_list("inet_protocols", "all");
    int rc = 0;
    p->want_ipv4 = p->want_ipv6 = p->ipv6_optional = false;
    for (char **l = list; *l; l++) {
        if (strcmp(*l, "all") == 0) {
            p->want_ipv4 = p->want_ipv6 = p->ipv6_optional = true;
        } else if (strcmp(*l, "ipv4") == 0) {
            p->want_ipv4 = true;
        } else if (strcmp(*l, "ipv6") == 0) {
            p->want_ipv6 = true;
        } else {
            msg_error("inet_protocols: unknown protocol \"%s\"", *l);
            rc = -1;
        }
    }
    if (rc == 0 && !p->want_ipv4 && !p->want_ipv6) {
        msg_error("inet_protocols: no protocol enabled");
        rc = -1;
    }
    list_free(&list);
    return rc;
}

/* Resolve mail_owner: root must hand services to an unprivileged user. */
static int params_owner(struct master_params *p)
{
    if (!master_is_root) {
        p->owner_uid = getuid();
        p->owner_gid = getgid();
        return 0;
    }
    struct passwd *pw = getpwnam(p->mail_owner);
    if (pw == NULL) {
        msg_error("mail_owner: unknown user \"%s\"", p->mail_owner);
        return -1;
    }
    if (pw->pw_uid == 0) {
        msg_error("mail_owner: \"%s\" has uid 0; it must be an unprivileged user", p->mail_owner);
        return -1;
    }
    p->owner_uid = pw->pw_uid;
    p->owner_gid = pw->pw_gid;
    return 0;
}

int master_params_load(struct master_params *p, const char *config_dir)
{
    memset(p, 0, sizeof(*p));
    p->config_dir = xstrdup(config_dir);
    p->queue_directory = param_str("queue_directory", TERN_QUEUEDIR);
    p->daemon_directory = param_str("daemon_directory", TERN_LIBEXECDIR);
    p->mail_owner = param_str("mail_owner", "tern");
    p->default_process_limit = param_int("default_process_limit", 100);
    p->throttle_time = param_time("service_throttle_time", 60);
    p->inet_interfaces = param_list("inet_interfaces", "all");
    if (p->throttle_time < 1)
        p->throttle_time = 1;
    if (*p->queue_directory != '/') {
        msg_error("queue_directory: \"%s\" is not an absolute path", p->queue_directory);
        return -1;
    }
    if (params_protocols(p) < 0 || params_owner(p) < 0)
        return -1;
    return 0;
}

void master_params_free(struct master_params *p)
{
    xfree(p->config_dir);
    xfree(p->queue_directory);
    xfree(p->daemon_directory);
    xfree(p->mail_owner);
    list_free(&p->inet_interfaces);
}

/*
 * check.c - `tern check`: is this instance fit to start?
 *
 * Loads main.cf and master.cf (their parsers report errors as
 * "FILE, line N: ..."), opens every lookup table main.cf names in a *_maps
 * parameter, checks that daemon_directory holds the programs master.cf
 * runs, creates missing queue subdirectories with Postfix's ownership and
 * modes, repairs modes it can, and warns about world-writable files.
 * The same check runs before `tern start` and after `tern init`.
 */
#include "sys.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "config.h"
#include "dict.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"
#include "tern.h"

/* Queue subdirectories; group_drop: group is setgid_group (as in Postfix). */
static const struct {
    const char *name;
    mode_t mode;
    bool group_drop;
    bool root_owned; /* pid/: written by the root master only */
} check_queue_dirs[] = {
    {"maildrop", 0730, true, false}, {"incoming", 0700, false, false},
    {"active", 0700, false, false},  {"deferred", 0700, false, false},
    {"hold", 0700, false, false},    {"corrupt", 0700, false, false},
    {"bounce", 0700, false, false},  {"defer", 0700, false, false},
    {"trace", 0700, false, false},   {"private", 0700, false, false},
    {"public", 0710, true, false},   {"pid", 0755, false, true},
};

/* Who should own the queue: mail_owner (root) or whoever runs us. */
struct check_ids {
    uid_t uid;
    gid_t gid;
    gid_t drop_gid;
};

static void check_world_writable(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) && (st.st_mode & S_IWOTH) &&
        !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)))
        msg_warn("%s is world-writable", path);
    if (getuid() == 0 && lstat(path, &st) == 0 && st.st_uid != 0 && !S_ISDIR(st.st_mode))
        msg_warn("%s is not owned by root", path);
}

/* Mail access daemons execute a pre-login program next to them (login.h). */
static const char *const check_login_daemons[] = {"pop3d", "imapd"};

static int check_program(const struct mastercf_entry *e, const char *path)
{
    if (!tern_is_executable(path)) {
        msg_error("%s, line %d: service %s: program %s does not exist or is not executable",
                  e->file, e->line, e->name, path);
        return -1;
    }
    check_world_writable(path);
    return 0;
}

static int check_master_cf_programs(const struct mastercf *mcf, const char *daemon_dir)
{
    int rc = 0;
    for (size_t i = 0; i < mcf->count; i++) {
        const struct mastercf_entry *e = &mcf->entries[i];
        char *path =
            e->command[0] == '/' ? xstrdup(e->command) : xasprintf("%s/%s", daemon_dir, e->command);
        if (check_program(e, path) < 0)
            rc = -1;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        for (size_t j = 0; rc == 0 && j < N_ELEMENTS(check_login_daemons); j++)
            if (strcmp(base, check_login_daemons[j]) == 0) {
                char *login = xasprintf("%s-login", path);
                if (check_program(e, login) < 0)
                    rc = -1;
                free(login);
            }
        free(path);
    }
    return rc;
}

static int check_master_cf(const char *dir, const char *daemon_dir)
{
    char *path = xasprintf("%s/master.cf", dir);
    struct mastercf *mcf = mastercf_parse_file(path);
    int rc = -1;
    if (mcf != NULL) {
        msg_debug("%s: %zu services", path, mcf->count);
        rc = check_master_cf_programs(mcf, daemon_dir);
        mastercf_free(&mcf);
    }
    check_world_writable(path);
    free(path);
    return rc;
}

static bool check_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Open each "type:name" of one *_maps parameter set in main.cf. */
static int check_maps_param(const char *param)
{
    bool is_set = false;
    cfg_raw(param, &is_set);
    if (!is_set) /* defaults name system tables that may not exist here */
        return 0;
    char **list = cfg_list(param);
    int rc = 0;
    for (char **p = list; *p != NULL; p++) {
        if (strchr(*p, ':') == NULL)
            continue;
        char *error = NULL;
        dict_t *d = dict_open(*p, DICT_FLAG_DEFAULT, &error);
        if (d == NULL) {
            msg_error("%s/main.cf: %s: cannot open %s: %s", config_dir(), param, *p,
                      error ? error : "unknown error");
            rc = -1;
        } else
            msg_debug("%s: opened %s", param, *p);
        free(error);
        dict_close(&d);
    }
    cfg_list_free(&list);
    return rc;
}

static int check_maps(void)
{
    int rc = 0;
    for (size_t i = 0; i < param_table_count; i++)
        if (check_ends_with(param_table[i].name, "_maps") &&
            check_maps_param(param_table[i].name) < 0)
            rc = -1;
    return rc;
}

static bool check_quiet;

static int check_ids_lookup(struct check_ids *ids)
{
    ids->uid = getuid();
    ids->gid = getgid();
    ids->drop_gid = getgid();
    const char *owner = cfg_str("mail_owner");
    struct passwd *pw = getpwnam(owner);
    if (getuid() != 0) {
        if (pw == NULL || pw->pw_uid != getuid())
            msg_debug("mail_owner %s is not the invoking user: a non-root instance runs as you",
                      owner);
        return 0;
    }
    if (pw == NULL) {
        msg_error("%s/main.cf: mail_owner: unknown user %s", config_dir(), owner);
        return -1;
    }
    if (pw->pw_uid == 0) {
        msg_error("%s/main.cf: mail_owner %s may not be root", config_dir(), owner);
        return -1;
    }
    ids->uid = pw->pw_uid;
    ids->gid = pw->pw_gid;
    ids->drop_gid = pw->pw_gid;
    const char *group = cfg_str("setgid_group");
    struct group *gr = getgrnam(group);
    if (gr == NULL && check_quiet)
        msg_debug("setgid_group %s does not exist", group);
    else if (gr == NULL)
        msg_warn("setgid_group %s does not exist; maildrop and public keep group %ld", group,
                 (long)pw->pw_gid);
    else
        ids->drop_gid = gr->gr_gid;
    return 0;
}

/* Make one queue directory exist with the right owner and mode. */
static int check_queue_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT || mkdir(path, mode) < 0 || lstat(path, &st) < 0) {
            msg_error("cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        msg_debug("created %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        msg_error("%s is not a directory", path);
        return -1;
    }
    if (getuid() == 0 && (st.st_uid != uid || st.st_gid != gid)) {
        if (chown(path, uid, gid) < 0) {
            msg_error("chown %s: %s", path, strerror(errno));
            return -1;
        }
    } else if (getuid() != 0 && st.st_uid != getuid()) {
        msg_error("%s is owned by uid %ld, not by you (uid %ld)", path, (long)st.st_uid,
                  (long)getuid());
        return -1;
    }
    if ((st.st_mode & 07777) != mode) {
        if (chmod(path, mode) < 0) {
            msg_error("chmod %s: %s", path, strerror(errno));
            return -1;
        }
        msg_debug("%s: mode %04o changed to %04o", path, (unsigned)(st.st_mode & 07777),
                  (unsigned)mode);
    }
    return 0;
}

static int check_queue(void)
{
    const char *queue = cfg_str("queue_directory");
    struct check_ids ids;
    if (*queue != '/') {
        msg_error("%s/main.cf: queue_directory %s is not an absolute path", config_dir(), queue);
        return -1;
    }
    if (check_ids_lookup(&ids) < 0 || check_queue_dir(queue, 0755, getuid(), getgid()) < 0)
        return -1;
    check_world_writable(queue);
    int rc = 0;
    for (size_t i = 0; i < N_ELEMENTS(check_queue_dirs); i++) {
        char *path = xasprintf("%s/%s", queue, check_queue_dirs[i].name);
        uid_t uid = check_queue_dirs[i].root_owned ? getuid() : ids.uid;
        gid_t gid = check_queue_dirs[i].root_owned   ? getgid()
                    : check_queue_dirs[i].group_drop ? ids.drop_gid
                                                     : ids.gid;
        if (check_queue_dir(path, check_queue_dirs[i].mode, uid, gid) < 0)
            rc = -1;
        free(path);
    }
    return rc;
}

static int check_daemon_dir(const char *daemon_dir)
{
    struct stat st;
    if (stat(daemon_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        msg_error("%s/main.cf: daemon_directory %s is not a directory", config_dir(), daemon_dir);
        return -1;
    }
    check_world_writable(daemon_dir);
    char *master = xasprintf("%s/master", daemon_dir);
    int rc = 0;
    if (!tern_is_executable(master)) {
        msg_error("%s/main.cf: daemon_directory %s has no master program", config_dir(),
                  daemon_dir);
        rc = -1;
    }
    free(master);
    return rc;
}

int tern_check_instance(bool quiet)
{
    check_quiet = quiet;
    const char *dir = tern_opts.config_dir;
    if (config_load(dir) < 0)
        return -1;
    char *main_cf = xasprintf("%s/main.cf", dir);
    check_world_writable(dir);
    check_world_writable(main_cf);
    free(main_cf);
    const char *daemon_dir = cfg_str("daemon_directory");
    int rc = 0;
    if (check_daemon_dir(daemon_dir) < 0)
        rc = -1;
    if (check_master_cf(dir, daemon_dir) < 0)
        rc = -1;
    if (check_maps() < 0)
        rc = -1;
    if (check_queue() < 0)
        rc = -1;
    return rc;
}

int tern_cmd_check(int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        msg_error("usage: tern check");
        return TERN_EXIT_USAGE;
    }
    if (tern_check_instance(false) < 0)
        return TERN_EXIT_FAIL;
    msg_debug("%s: no problems found", tern_opts.config_dir);
    return TERN_EXIT_OK;
}

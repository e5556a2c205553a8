/*
 * priv.c - user lookup, chroot and a verified, permanent privilege drop
 * (see priv.h).
 */
#include "priv.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <grp.h>
#include <pwd.h>

/* A decimal id: digits only, below the (uid_t)-1 "no change" value. */
static bool priv_parse_id(const char *s, unsigned long *id_r)
{
    unsigned long v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
            return false;
    }
    if (v >= UINT32_MAX)
        return false;
    *id_r = v;
    return true;
}

int priv_lookup_user(const char *name, uid_t *uid_r, gid_t *gid_r)
{
    if (name == NULL || *name == '\0') {
        errno = EINVAL;
        return -1;
    }
    errno = 0;
    struct passwd *pw = getpwnam(name);
    unsigned long id;
    if (pw == NULL && priv_parse_id(name, &id)) {
        *uid_r = (uid_t)id;
        errno = 0;
        pw = getpwuid((uid_t)id);
        *gid_r = pw ? pw->pw_gid : (gid_t)id;
        return 0;
    }
    if (pw == NULL) {
        errno = ENOENT;
        return -1;
    }
    *uid_r = pw->pw_uid;
    *gid_r = pw->pw_gid;
    return 0;
}

int priv_lookup_group(const char *name, gid_t *gid_r)
{
    if (name == NULL || *name == '\0') {
        errno = EINVAL;
        return -1;
    }
    struct group *gr = getgrnam(name);
    unsigned long id;
    if (gr != NULL) {
        *gid_r = gr->gr_gid;
        return 0;
    }
    if (priv_parse_id(name, &id)) {
        *gid_r = (gid_t)id;
        return 0;
    }
    errno = ENOENT;
    return -1;
}

/* Resolve user and optional group names to ids. */
static int priv_resolve(const char *user, const char *group, uid_t *uid_r, gid_t *gid_r,
                        char **error_r)
{
    if (priv_lookup_user(user, uid_r, gid_r) < 0)
        return error_set(error_r, "unknown user '%s'", user ? user : "");
    if (group != NULL && priv_lookup_group(group, gid_r) < 0)
        return error_set(error_r, "unknown group '%s'", group);
    return 0;
}

/* After the switch: ids, groups, and no way back to root. */
static void priv_verify(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
        msg_fatal("privilege drop: uid is not %ld after setresuid", (long)uid);
    if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
        msg_fatal("privilege drop: gid is not %ld after setresgid", (long)gid);
    gid_t groups[2];
    int n = getgroups(2, groups);
    if (n != 1 || groups[0] != gid)
        msg_fatal("privilege drop: supplementary groups were not cleared");
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        msg_fatal("privilege drop: could regain root after switching to uid %ld", (long)uid);
    if (gid != 0 && uid != 0 && (setgid(0) == 0 || setegid(0) == 0))
        msg_fatal("privilege drop: could regain gid 0 after switching to gid %ld", (long)gid);
}

int priv_drop_ids(uid_t uid, gid_t gid, char **error_r)
{
    if (geteuid() != 0) {
        /* Non-root instance: everything runs as the invoking user. */
        if (uid == getuid() && uid == geteuid())
            return 0;
        errno = EPERM;
        return error_set(error_r, "not running as root: cannot switch from uid %ld to uid %ld",
                         (long)geteuid(), (long)uid);
    }
    /* Nothing has changed yet if setgroups fails, so that is an error... */
    if (setgroups(1, &gid) < 0)
        return error_set(error_r, "setgroups(%ld): %s", (long)gid, strerror(errno));
    /* ...but a half-done switch is not a state to carry on from. */
    if (setresgid(gid, gid, gid) < 0)
        msg_fatal("setresgid(%ld): %s", (long)gid, strerror(errno));
    if (setresuid(uid, uid, uid) < 0)
        msg_fatal("setresuid(%ld): %s", (long)uid, strerror(errno));
    priv_verify(uid, gid);
    return 0;
}

int priv_drop(const char *user_or_uid, const char *group_or_null, char **error_r)
{
    uid_t uid;
    gid_t gid;
    if (priv_resolve(user_or_uid, group_or_null, &uid, &gid, error_r) < 0)
        return -1;
    return priv_drop_ids(uid, gid, error_r);
}

int priv_chroot(const char *dir, char **error_r)
{
    if (dir == NULL || *dir == '\0')
        return 0;
    if (geteuid() != 0) {
        errno = EPERM;
        return error_set(error_r, "chroot to %s needs root", dir);
    }
    if (chdir(dir) < 0)
        return error_set(error_r, "chdir %s: %s", dir, strerror(errno));
    if (chroot(".") < 0)
        return error_set(error_r, "chroot %s: %s", dir, strerror(errno));
    if (chdir("/") < 0)
        return error_set(error_r, "chdir / in chroot %s: %s", dir, strerror(errno));
    return 0;
}

int priv_enter(const char *user, const char *group_or_null, const char *chroot_dir, char **error_r)
{
    uid_t uid;
    gid_t gid;
    if (priv_resolve(user, group_or_null, &uid, &gid, error_r) < 0)
        return -1;
    if (priv_chroot(chroot_dir, error_r) < 0)
        return -1;
    return priv_drop_ids(uid, gid, error_r);
}

int priv_refuse_root(const char *progname)
{
    if (getuid() == 0 || geteuid() == 0) {
        msg_error("%s must not run as root; run it as an unprivileged user", progname);
        return -1;
    }
    return 0;
}

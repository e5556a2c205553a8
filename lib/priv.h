/*
 * priv.h - giving up privileges: user lookup, chroot, and a permanent
 * switch to an unprivileged user.
 *
 * Every daemon the master starts as root goes through priv_enter() (or
 * priv_chroot + priv_drop_ids) before it reads untrusted input.  After a
 * successful drop the process has exactly one group (the target gid; all
 * supplementary groups are gone), real = effective = saved ids, and it has
 * been verified that setuid(0) fails.
 *
 * Non-root instances: when the process is not root, a "drop" to the
 * invoking user is a no-op that succeeds, and a drop to anyone else is an
 * error.  So a test instance runs every daemon as the person who started
 * it, with the same configuration.
 *
 * Errors come back as -1 and a malloc'ed reason in *error_r (caller frees).
 */
#ifndef TERN_PRIV_H
#define TERN_PRIV_H

#include "sys.h"

/*
 * Look up a user by name, or by number when name is all digits (then the
 * passwd entry, if any, gives the gid; none: gid = uid).  0, or -1 with
 * errno ENOENT (no such user) or EINVAL (empty name).
 */
int priv_lookup_user(const char *name, uid_t *uid_r, gid_t *gid_r);
/* Look up a group by name or number; 0 or -1 (errno ENOENT/EINVAL). */
int priv_lookup_group(const char *name, gid_t *gid_r);

/*
 * Become user_or_uid for good: group_or_null overrides the user's primary
 * group.  setgroups() to exactly that gid, then setgid, setuid, then check
 * that root cannot be regained.  Failing a set*id call or the check after
 * the switch has started is fatal (the process state is not trustworthy).
 */
int priv_drop(const char *user_or_uid, const char *group_or_null, char **error_r);
/* The same with numeric ids (for use after a chroot, where /etc is gone). */
int priv_drop_ids(uid_t uid, gid_t gid, char **error_r);

/*
 * chroot(dir) and chdir("/").  Needs root; a NULL or empty dir is a no-op.
 * Lookups by name must happen before this (see priv_enter).
 */
int priv_chroot(const char *dir, char **error_r);

/*
 * The whole sequence a daemon needs: look up user (and group) while /etc
 * is still visible, chroot to chroot_dir unless NULL/"", drop privileges.
 * Non-root: the same-user rule above, and a chroot request is an error.
 */
int priv_enter(const char *user, const char *group_or_null, const char *chroot_dir, char **error_r);

/*
 * For programs that must never run as root: returns -1 after logging an
 * error naming progname when the real or effective uid is 0, else 0.
 */
int priv_refuse_root(const char *progname);

#endif

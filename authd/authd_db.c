/*
 * authd_db.c - authd's copy of the user database ($auth_user_database).
 * authd is the only process that opens the file.  Before each request it
 * stats the file and re-reads it when its identity, size or change time
 * moved; a version that cannot be read leaves the previous one in use.
 */
#include "authd.h"

#include "log.h"
#include "mem.h"

#include <sys/stat.h>

static struct {
    char *path;
    struct passwd_opts opts;
    struct passwd_db *db;
    struct stat st;  /* of the loaded version */
    bool failed;     /* the last attempt failed (reported once) */
    struct stat bad; /* the version that failed */
} authd_db;

static bool authd_db_same(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Anyone but the owner and group must not read a password database. */
static void authd_db_check_mode(const struct stat *st)
{
    if (st->st_mode & (S_IROTH | S_IWOTH | S_IWGRP))
        msg_warn("%s is %s by other users (mode %04o): make it readable by mail_owner only "
                 "(chmod 0640, group of mail_owner, owner root)",
                 authd_db.path, st->st_mode & S_IROTH ? "readable" : "writable",
                 (unsigned)(st->st_mode & 07777));
}

static void authd_db_load(const struct stat *st)
{
    char *error = NULL;
    struct passwd_db *db = passwd_db_load(authd_db.path, &authd_db.opts, &error);
    if (db == NULL) {
        msg_error("cannot read the user database: %s", error);
        free(error);
        authd_db.failed = true;
        authd_db.bad = *st;
        return;
    }
    passwd_db_free(&authd_db.db);
    authd_db.db = db;
    authd_db.st = *st;
    authd_db.failed = false;
    authd_db_check_mode(st);
    msg_info("user database %s: %zu users%s", authd_db.path, passwd_db_count(db),
             passwd_db_bad_lines(db) ? ", some lines ignored (see above)" : "");
}

void authd_db_init(const char *path, bool allow_plaintext)
{
    authd_db.path = xstrdup(path);
    authd_db.opts.allow_plaintext = allow_plaintext;
    (void)authd_db_get();
}

const struct passwd_db *authd_db_get(void)
{
    struct stat st;
    if (stat(authd_db.path, &st) < 0) {
        if (!authd_db.failed || authd_db.bad.st_ino != 0)
            msg_error("cannot read the user database: stat %s: %s", authd_db.path, strerror(errno));
        authd_db.failed = true;
        memset(&authd_db.bad, 0, sizeof(authd_db.bad));
        return authd_db.db;
    }
    if (authd_db.db != NULL && authd_db_same(&st, &authd_db.st))
        return authd_db.db;
    if (authd_db.failed && authd_db_same(&st, &authd_db.bad))
        return authd_db.db; /* this version failed already: said so once */
    authd_db_load(&st);
    return authd_db.db;
}

const char *authd_db_path(void)
{
    return authd_db.path;
}

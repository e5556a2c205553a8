/*
 * tern.h - internals shared by the files of the tern control command.
 *
 * tern.c parses the command line and dispatches; init.c creates an
 * instance, users.c writes its user database and mailboxes, aliases.c
 * its postmaster and abuse aliases, check.c
 * validates a configuration and the queue layout, ctl.c starts, stops,
 * reloads and reports on the master, pidfile.c finds out whether a master
 * holds an instance's pid file.
 */
#ifndef TERN_TOOL_TERN_H
#define TERN_TOOL_TERN_H

#include "sys.h"
#include "str.h"

/* Exit codes of the tool. */
#define TERN_EXIT_OK 0
#define TERN_EXIT_FAIL 1
#define TERN_EXIT_USAGE 2

/* The parsed global options. */
struct tern_opts {
    const char *config_dir; /* -c DIR, $MAIL_CONFIG or TERN_SYSCONFDIR */
    int verbose;            /* number of -v */
};

extern struct tern_opts tern_opts;

/* Commands: each gets the arguments after its name and returns an exit code. */
int tern_cmd_init(int argc, char **argv);
int tern_cmd_check(int argc, char **argv);
int tern_cmd_start(int argc, char **argv);
int tern_cmd_stop(int argc, char **argv);
int tern_cmd_reload(int argc, char **argv);
int tern_cmd_status(int argc, char **argv);

/*
 * Load main.cf and master.cf from tern_opts.config_dir and validate the
 * instance (what `tern check` does).  Returns 0 when it may be started.
 * quiet turns warnings about things a sandbox may ignore into debug lines.
 */
int tern_check_instance(bool quiet);

/* A parameter's expanded value, or fallback when the table lacks the name. */
const char *tern_param(const char *name, const char *fallback);

/* Directory of the running binary (realpath of /proc/self/exe); malloc'ed. */
char *tern_self_dir(void);
/* Whether path names an executable regular file. */
bool tern_is_executable(const char *path);
/* mkdir that succeeds when the directory exists; 0 or -1 with a logged error. */
int tern_mkdir(const char *path, mode_t mode);
/* Write a whole file atomically (temp file + rename); 0 or -1 (logged). */
int tern_write_file(const char *path, const char *data, size_t len, mode_t mode);

/*
 * The master's pid for the loaded configuration: > 0 while a master holds
 * QUEUE_DIRECTORY/pid/master.pid locked, 0 when none does.
 */
pid_t tern_master_pid(void);
/* Path of the pid file (malloc'ed) for the loaded configuration. */
char *tern_pidfile_path(void);

/* The standard services an instance offers; see init.c. */
struct tern_service {
    const char *name; /* service name, for messages */
    const char *type; /* "inet" or "unix" */
    int port_offset;  /* inet: standard port, added to --port-base */
    const char *priv; /* master.cf fields 2..6 */
    const char *unpriv;
    const char *chroot;
    const char *wakeup;
    const char *maxproc;
    const char *daemon; /* program in daemon_directory */
    const char *args;   /* extra arguments, "" for none */
};

extern const struct tern_service tern_services[];
extern const size_t tern_services_count;

/* User database and mailboxes (users.c). */
struct tern_user {
    char *local;    /* local part */
    char *domain;   /* domain */
    char *password; /* clear text, as given or generated */
    bool generated; /* password was generated here */
    bool no_login;  /* a mailbox only: not in the users file, so no password works */
};

/* Parse "ADDR[:PASSWORD]" (ADDR is user or user@domain); 0 or -1 (logged). */
int tern_user_parse(const char *spec, const char *default_domain, struct tern_user *u);
void tern_user_clear(struct tern_user *u);
/*
 * Add or replace the users in DIR/users, create their Maildirs and write
 * DIR/vmailbox; the domains of all users in the file are appended to
 * domains (space-separated, each once).
 */
int tern_users_write(const char *dir, struct tern_user *users, size_t count, uid_t uid, gid_t gid,
                     str_t *domains);
/* The addresses in DIR/users, in file order (NULL-terminated; cfg_list_free). */
char **tern_users_list(const char *dir);

/*
 * DIR/virtual (virtual_alias_maps) and DIR/aliases (alias_maps) that send
 * postmaster, abuse, hostmaster and MAILER-DAEMON of every domain, and the
 * local root and postmaster, to target (aliases.c).
 */
int tern_aliases_write(const char *dir, const char *target, const str_t *domains);
/* DIR/catchall: the sandbox's regexp table sending other domains to target. */
int tern_catchall_write(const char *dir, const char *target, const str_t *domains,
                        const char *hostname);

#endif

/*
 * master.h - the tern supervisor: shared state of the master process.
 *
 * master reads master.cf, binds every listener, forks one or more children
 * per service on demand and hands them the listening sockets (protocol in
 * lib/server.h), counts busy and idle children through a per-service
 * status pipe, restarts crashed children with back-off, reloads on SIGHUP
 * and stops everything on SIGTERM.  It is single-threaded: one poll() loop
 * (master_loop.c) with signals delivered through a self-pipe.
 */
#ifndef TERN_MASTER_H
#define TERN_MASTER_H

#include "sys.h"
#include "mastercf.h"

#ifndef TERN_VERSION
#define TERN_VERSION "0.1"
#endif

/* Configuration values master needs, copied at (re)load time. */
struct master_params {
    char *config_dir;
    char *queue_directory;
    char *daemon_directory;
    char *mail_owner;
    uid_t owner_uid; /* mail_owner's ids (master's own when not root) */
    gid_t owner_gid;
    long long default_process_limit;
    long long throttle_time; /* service_throttle_time, seconds */
    char **inet_interfaces;  /* NULL-terminated */
    bool want_ipv4, want_ipv6;
    bool ipv6_optional; /* inet_protocols = all: skip ::1 if unsupported */
};

/* One service from master.cf with its listeners and process counts. */
struct master_service {
    struct mastercf_entry *conf; /* owned copy of the master.cf entry */
    char *path;                  /* executable: daemon_directory/command */
    char *sock_path;             /* unix/fifo/pass: file system path */
    int *listen_fds;
    int nlisten;
    int status_rd, status_wr; /* status pipe, children write records */
    int maxproc;              /* 0 = no limit */
    int total, avail;         /* children alive, children idle */
    int fail_count;           /* consecutive children that died early */
    int throttle_count;       /* consecutive throttles, for back-off */
    int64_t throttle_until;   /* ms, 0 = not throttled */
    int64_t next_wakeup;      /* ms, 0 = no wakeup timer */
    bool used;                /* a child was ever started (wakeup '?') */
    bool mark;                /* reload: still present in the new master.cf */
    struct master_service *next;
};

/* A child process; svc is NULL once its service was removed by a reload. */
struct master_proc {
    pid_t pid;
    struct master_service *svc;
    bool busy;
    bool served; /* reported busy at least once */
    int64_t start_ms;
    char *path; /* for log messages */
    struct master_proc *next;
};

extern struct master_params master_params;
extern struct master_service *master_services;
extern struct master_proc *master_procs;
extern bool master_is_root;

/* master_params.c */
int master_params_load(struct master_params *p, const char *config_dir);
void master_params_free(struct master_params *p);

/* master_lock.c: one master per queue directory. */
int master_lock_acquire(const char *queue_dir);
void master_lock_release(void);
/* Test for a running master: its pid, 0 if none, -1 on error. */
pid_t master_lock_probe(const char *queue_dir);
int master_make_dirs(const struct master_params *p);

/* master_listen.c */
int master_listen_open(struct master_service *svc, const struct master_params *p);
void master_listen_close(struct master_service *svc, bool retire);
bool master_listen_same(const struct mastercf_entry *a, const struct mastercf_entry *b);

/* master_service.c */
struct master_service *master_service_new(const struct mastercf_entry *e,
                                          const struct master_params *p);
void master_service_free(struct master_service *svc, bool retire);
/* Start (first load) or reconcile (reload) the services with a master.cf. */
int master_services_start(const struct mastercf *cf);
void master_services_reload(const struct mastercf *cf, const struct master_params *prev);
void master_services_free_all(void);
const char *master_type_name(enum mastercf_type t);

/* master_spawn.c */
void master_spawn(struct master_service *svc);
void master_reap(void);
void master_status_read(struct master_service *svc);
bool master_service_throttled(struct master_service *svc, int64_t now);
void master_procs_stop(int grace_ms);
void master_procs_forget_service(struct master_service *svc);

/* master_wakeup.c */
void master_wakeup_schedule(struct master_service *svc, int64_t now);
void master_wakeup_run(int64_t now);

/* master_loop.c */
int master_signals_init(void);
/* Run until SIGTERM/SIGINT; returns the signal number that stopped it. */
int master_loop(void);

/* master.c: reload handler, called by the loop on SIGHUP. */
void master_reload(void);

#endif

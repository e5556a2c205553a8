/*
 * server.h - the skeleton every tern daemon is built on, and the small
 * protocol between master and the children it starts.
 *
 * A daemon's main() is one call:
 *
 *     int main(int argc, char **argv) {
 *         static const struct server_settings s = {
 *             .name = "smtpd", .mode = SERVER_SINGLE, .service = smtpd_service,
 *         };
 *         return server_main(argc, argv, &s);
 *     }
 *
 * The skeleton parses "-c DIR", "-o name=value" (repeatable) and "-v",
 * loads main.cf, applies the overrides, opens logging as tern/NAME, takes
 * the listening sockets from master, runs pre_jail_init (still as root
 * when master runs as root: open root-only files there), then chroots
 * and drops privileges itself, runs post_jail_init and serves.  The drop
 * is not optional: after pre_jail_init a child started for a service
 * whose master.cf "unpriv" field is y (the default) runs as mail_owner,
 * and the skeleton refuses to go on if it is still root.  Non-option
 * arguments after the options (from master.cf) are left to the daemon
 * through server_args().
 *
 * Master -> child hand-off (all numbers fixed):
 *
 *   fd 0           /dev/null
 *   fd 1, 2        inherited from master (stderr for sanitizer reports)
 *   fd 3           SERVER_STATUS_FD: write end of the service's status
 *                  pipe.  The child writes struct server_status records
 *                  (8 bytes, atomic on a pipe) saying it is busy or idle.
 *                  When master closes the read end (master exited, or
 *                  the service was removed or changed by a reload) the fd
 *                  polls as POLLERR and writes fail with EPIPE: the child
 *                  exits as soon as it is idle.
 *   fd 4 .. 4+N-1  SERVER_LISTEN_FD...: the service's listening sockets
 *                  (N > 1 for an inet service on several addresses), or
 *                  for a fifo service the FIFO opened read-write.  They
 *                  are shared by all children of the service and are
 *                  non-blocking: several idle children may wake for one
 *                  connection and only one wins accept().
 *
 *   TERN_SERVICE       master.cf service name ("smtp", "127.0.0.1:25")
 *   TERN_SERVICE_TYPE  inet, unix, fifo or pass
 *   TERN_LISTEN_FDS    N
 *   TERN_MASTER_PID    master's pid (a child exits if its parent changes)
 *   TERN_UNPRIV        "y": drop to mail_owner; "n": stay root (master.cf
 *                      unpriv field n); absent means "y"
 *   TERN_CHROOT        the directory to chroot to (queue_directory), or
 *                      absent for no chroot
 *
 * Master counts a newly started child as idle; the child reports BUSY
 * when it takes a client and IDLE when it is ready for the next, and
 * master starts another child only while no child of the service is
 * idle, up to the service's process limit.
 *
 * Exits: after max_use clients, after max_idle seconds without a client,
 * when the status channel reports master gone, or when master dies
 * (PR_SET_PDEATHSIG plus a parent pid check).  A daemon run by hand,
 * without this environment, exits with a fatal error.
 */
#ifndef TERN_SERVER_H
#define TERN_SERVER_H

#include "sys.h"
#include "stream.h"

#define SERVER_STATUS_FD 3
#define SERVER_LISTEN_FD 4
#define SERVER_MAX_LISTEN 64

#define SERVER_ENV_SERVICE "TERN_SERVICE"
#define SERVER_ENV_TYPE "TERN_SERVICE_TYPE"
#define SERVER_ENV_NLISTEN "TERN_LISTEN_FDS"
#define SERVER_ENV_MASTER "TERN_MASTER_PID"
#define SERVER_ENV_UNPRIV "TERN_UNPRIV"
#define SERVER_ENV_CHROOT "TERN_CHROOT"

enum server_stat { SERVER_STAT_IDLE = 0, SERVER_STAT_BUSY = 1 };

/* One status record, child -> master. */
struct server_status {
    int32_t pid;
    int32_t status; /* enum server_stat */
};

enum server_mode {
    /* One client at a time: service() runs the whole session. */
    SERVER_SINGLE,
    /*
     * Many clients in one process (qmgr style): readable() is called each
     * time a client has input (or EOF); return -1 to close that client.
     */
    SERVER_MULTI,
    /*
     * Wakeup requests only (pickup style): each connection or FIFO write
     * delivers a few bytes to trigger(), the connection is then closed.
     */
    SERVER_TRIGGER,
};

struct server_settings {
    const char *name; /* program name for logging: tern/NAME */
    enum server_mode mode;
    void (*service)(stream_t *client, const char *service_name, void *ctx);
    int (*readable)(stream_t *client, const char *service_name, void *ctx);
    void (*trigger)(const char *buf, size_t len, const char *service_name, void *ctx);
    /* Before chroot and privilege drop (root when master is root). */
    void (*pre_jail_init)(const char *service_name, void *ctx);
    /* After the drop, before the first client. */
    void (*post_jail_init)(const char *service_name, void *ctx);
    /* Called every wakeup_interval seconds when > 0 (not while serving). */
    void (*wakeup)(const char *service_name, void *ctx);
    int wakeup_interval;
    /* Called in a MULTI server when a client is closed (free its state). */
    void (*disconnect)(stream_t *client, void *ctx);
    bool no_idle_exit; /* never exit for max_idle (queue manager) */
    /* Never exit for max_use (queue manager: its memory of destinations,
     * their concurrency windows and dead times, must live on). */
    bool no_use_exit;
    int client_timeout; /* seconds per read/write on clients; 0 = 300 */
    void *ctx;
};

/* Run the daemon; returns only the process exit status. */
int server_main(int argc, char **argv, const struct server_settings *s);

/* The non-option arguments from master.cf (valid during server_main). */
char **server_args(int *argc_r);
/* The whole command line (NULL-terminated), to start a helper program with the same options. */
char **server_argv(void);
/*
 * For a program a daemon starts (not master), such as a pre-login program
 * (login.h): the same options (-c, -o, -v), main.cf, logging as tern/NAME.
 * No descriptors from master, no privilege change.  log_fd >= 0: the log
 * file the parent opened (when main.cf names a file), else -1.
 */
void server_helper_init(int argc, char **argv, const char *name, int log_fd);

/*
 * For a daemon that runs a loop of its own inside one of its callbacks
 * (qmgr while deliveries are in flight, SINGLE or TRIGGER mode): serve
 * the requests waiting on the listening sockets now, without blocking
 * (at most SERVER_PENDING_MAX per listener), by calling the daemon's
 * trigger() or service() as the main loop would.  Those callbacks are
 * thus re-entered and must cope (qmgr's trigger only records what was
 * asked when its loop is running).  Nested requests count towards
 * max_use, but the process exits for it only once back in the main
 * loop, and reports no busy/idle status to master in between.  Returns
 * how many requests were served.  server_listen_fd(i), i < the count
 * server_listen_count() gives, are the fds to poll for POLLIN.
 */
/*
 * Extra descriptors polled by the main loop alongside the listeners and
 * (SERVER_MULTI) the clients, in every mode: a daemon's pipes or sockets
 * to helper processes of its own (authd's workers).  ready(fd, ctx) is
 * called from the loop when fd is readable, at EOF or on an error
 * (POLLIN, POLLHUP, POLLERR); it must not block, and it may watch or
 * unwatch any descriptor, including its own.  A watched fd is not a
 * client: it keeps no daemon from exiting for max_idle or max_use, says
 * nothing to master about busy or idle, and is never closed by the
 * skeleton.  Unwatch before closing: a watched fd found closed (POLLNVAL)
 * is logged as an error, unwatched, and ready() called once more.
 * Watching an fd twice is a bug (panic); unwatching one not watched does
 * nothing.
 */
void server_watch_fd(int fd, void (*ready)(int fd, void *ctx), void *ctx);
void server_unwatch_fd(int fd);

#define SERVER_PENDING_MAX 64
int server_serve_pending(void);
int server_listen_count(void);
int server_listen_fd(int i);

#endif

/*
 * sock.h - socket helpers: listening on TCP and UNIX stream sockets and
 * connecting to UNIX stream sockets with a deadline.
 *
 * Every descriptor returned is close-on-exec (the master hands listening
 * sockets to a child with dup2(), which clears the flag on the copy) and in
 * blocking mode unless the caller changes it with sock_set_nonblock().
 * Errors come back as -1 plus a malloc'ed reason in *error_r that names
 * the address or path (the caller frees it); errno is preserved for
 * callers that need it.
 */
#ifndef TERN_SOCK_H
#define TERN_SOCK_H

#include "sys.h"

/*
 * Listen on TCP host:port.  host may be an IPv4 or IPv6 literal (with or
 * without [brackets]) or a name; NULL, "" or "*" means every interface
 * (IPv6 dual-stack where the kernel has IPv6, else IPv4 0.0.0.0).  port is
 * a number or a service name.  SO_REUSEADDR is set.  Returns the fd.
 */
int inet_listen(const char *host, const char *port, int backlog, char **error_r);

/*
 * Listen on the UNIX stream socket path with the given permission bits.
 * A stale socket at path is removed first; any other kind of file there is
 * an error (never unlinked).  Returns the fd.
 */
int unix_listen(const char *path, int backlog, mode_t mode, char **error_r);

/*
 * Connect to the UNIX stream socket path, waiting at most timeout_ms
 * milliseconds (0 = wait forever) for a busy listener.  Returns the fd.
 * UNIX_CONNECT_NOWAIT makes one attempt only: for wakeup triggers, whose
 * receiver scans its queue anyway, so a full listen queue is no reason
 * for the sender to wait.
 */
#define UNIX_CONNECT_NOWAIT (-1)
int unix_connect(const char *path, int timeout_ms, char **error_r);

/* Switch O_NONBLOCK / FD_CLOEXEC on or off; 0 or -1 with errno. */
int sock_set_nonblock(int fd, bool on);
int sock_set_cloexec(int fd, bool on);

/*
 * The local port a socket is bound to (after listening on port "0"),
 * or -1 with errno.
 */
int sock_local_port(int fd);

#endif

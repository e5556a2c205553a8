/*
 * master_listen.c - bind a service's listeners: TCP addresses for inet
 * services, UNIX sockets and FIFOs under queue_directory/private or
 * public for the others.  Every descriptor is close-on-exec; the spawn
 * code moves copies to the fixed numbers a child expects.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "sock.h"
#include "str.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define MASTER_BACKLOG 100

static void listen_add(struct master_service *svc, int fd)
{
    svc->listen_fds = xreallocarray(svc->listen_fds, (size_t)svc->nlisten + 1, sizeof(int));
    svc->listen_fds[svc->nlisten++] = fd;
}

static bool is_ipv6_literal(const char *host)
{
    return strchr(host, ':') != NULL;
}

/* Listen on one host:port; ok_to_skip for an optional IPv6 loopback. */
static int listen_inet_one(struct master_service *svc, const char *host, const char *port,
                           bool ok_to_skip)
{
    char *error = NULL;
    int fd = inet_listen(host, port, MASTER_BACKLOG, &error);
    if (fd < 0) {
        if (ok_to_skip && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
            msg_warn("%s, line %d: skipping %s: %s", svc->conf->file, svc->conf->line, host, error);
            free(error);
            return 0;
        }
        msg_error("%s, line %d: %s", svc->conf->file, svc->conf->line, error);
        free(error);
        return -1;
    }
    listen_add(svc, fd);
    return 0;
}

/* A bare port: every address in inet_interfaces, filtered by protocol. */
static int listen_inet_interfaces(struct master_service *svc, const struct master_params *p)
{
    const char *port = svc->conf->port;
    for (char **i = p->inet_interfaces; *i; i++) {
        int rc = 0;
        if (strcmp(*i, "all") == 0) {
            const char *any = p->want_ipv4 && p->want_ipv6 ? NULL : p->want_ipv4 ? "0.0.0.0" : "::";
            rc = listen_inet_one(svc, any, port, false);
        } else if (strcmp(*i, "loopback-only") == 0 || strcmp(*i, "localhost") == 0) {
            if (p->want_ipv4)
                rc = listen_inet_one(svc, "127.0.0.1", port, false);
            if (rc == 0 && p->want_ipv6)
                rc = listen_inet_one(svc, "::1", port, p->ipv6_optional);
        } else if (is_ipv6_literal(*i) ? !p->want_ipv6 : !p->want_ipv4) {
            msg_warn("inet_interfaces: %s is excluded by inet_protocols", *i);
        } else {
            rc = listen_inet_one(svc, *i, port, false);
        }
        if (rc < 0)
            return -1;
    }
    if (svc->nlisten == 0) {
        msg_error("%s, line %d: no address to listen on (inet_interfaces)", svc->conf->file,
                  svc->conf->line);
        return -1;
    }
    return 0;
}

/* Hand the socket or FIFO to mail_owner when master runs as root. */
static int listen_chown(const char *path, const struct master_params *p)
{
    if (master_is_root && chown(path, p->owner_uid, p->owner_gid) < 0) {
        msg_error("chown %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_unix(struct master_service *svc, const struct master_params *p)
{
    mode_t mode = svc->conf->private_ ? 0600 : 0666;
    char *error = NULL;
    int fd = unix_listen(svc->sock_path, MASTER_BACKLOG, mode, &error);
    if (fd < 0) {
        msg_error("%s, line %d: %s", svc->conf->file, svc->conf->line, error);
        free(error);
        return -1;
    }
    listen_add(svc, fd);
    return listen_chown(svc->sock_path, p);
}

/* A FIFO is opened read-write so that it never reports end of input. */
static int listen_fifo(struct master_service *svc, const struct master_params *p)
{
    const char *path = svc->sock_path;
    mode_t mode = svc->conf->private_ ? 0600 : 0622;
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISFIFO(st.st_mode)) {
        msg_error("%s, line %d: %s exists and is not a FIFO", svc->conf->file, svc->conf->line,
                  path);
        return -1;
    }
    if (lstat(path, &st) < 0 && mkfifo(path, mode) < 0) {
        msg_error("mkfifo %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        msg_error("open %s: %s", path, strerror(errno));
        return -1;
    }
    listen_add(svc, fd);
    if (chmod(path, mode) < 0) {
        msg_error("chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return listen_chown(path, p);
}

int master_listen_open(struct master_service *svc, const struct master_params *p)
{
    int rc;
    switch (svc->conf->type) {
    case MCF_INET:
        rc = svc->conf->host != NULL ? listen_inet_one(svc, svc->conf->host, svc->conf->port, false)
                                     : listen_inet_interfaces(svc, p);
        break;
    case MCF_FIFO:
        rc = listen_fifo(svc, p);
        break;
    default:
        rc = listen_unix(svc, p);
        break;
    }
    if (rc < 0)
        master_listen_close(svc, false);
    return rc;
}

/*
 * Close the listeners.  retire: the service goes away, but busy children
 * still hold copies of the descriptors, so shut the sockets down (which
 * acts on the socket, not just master's descriptor) and remove the path.
 */
void master_listen_close(struct master_service *svc, bool retire)
{
    for (int i = 0; i < svc->nlisten; i++) {
        if (retire && svc->conf->type != MCF_FIFO)
            (void)shutdown(svc->listen_fds[i], SHUT_RDWR);
        close(svc->listen_fds[i]);
    }
    xfree(svc->listen_fds);
    svc->nlisten = 0;
    if (retire && svc->sock_path != NULL)
        (void)unlink(svc->sock_path);
}

static bool str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Would the two entries bind the same listener (so it can be kept)? */
bool master_listen_same(const struct mastercf_entry *a, const struct mastercf_entry *b)
{
    return a->type == b->type && str_same(a->name, b->name) && str_same(a->host, b->host) &&
           str_same(a->port, b->port) && a->private_ == b->private_;
}

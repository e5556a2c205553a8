/*
 * sock.c - listening and connecting sockets (see sock.h).
 */
#include "sock.h"
#include "mem.h"
#include "str.h"
#include "stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

static int fd_set_flag(int fd, int getcmd, int setcmd, int flag, bool on)
{
    int flags = fcntl(fd, getcmd);
    if (flags < 0)
        return -1;
    int want = on ? (flags | flag) : (flags & ~flag);
    if (want == flags)
        return 0;
    return fcntl(fd, setcmd, want);
}

int sock_set_nonblock(int fd, bool on)
{
    return fd_set_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK, on);
}

int sock_set_cloexec(int fd, bool on)
{
    return fd_set_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, on);
}

int sock_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

/* ---- TCP ------------------------------------------------------------ */

/* Create, configure, bind and listen one address; fd or -1 with errno. */
static int inet_listen_addr(const struct addrinfo *ai, int backlog, bool dual_stack)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (ai->ai_family == AF_INET6) {
        const int *v6only = dual_stack ? &zero : &one;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only, sizeof(int)) < 0)
            goto fail;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Copy host without surrounding [brackets]; NULL for "any interface". */
static char *inet_host_strip(const char *host)
{
    if (host == NULL || *host == '\0' || strcmp(host, "*") == 0)
        return NULL;
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        return xstrndup(host + 1, len - 2);
    return xstrdup(host);
}

/* Wildcard listen: IPv6 dual-stack first, then IPv4 alone. */
static int inet_listen_any(const char *port, int backlog, char **error_r)
{
    static const int families[] = {AF_INET6, AF_INET};
    const char *why = "no address";
    for (size_t i = 0; i < N_ELEMENTS(families); i++) {
        struct addrinfo hints = {
            .ai_family = families[i], .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
        struct addrinfo *res;
        int gai = getaddrinfo(NULL, port, &hints, &res);
        if (gai != 0) {
            why = gai_strerror(gai);
            errno = EINVAL;
            continue;
        }
        int fd = inet_listen_addr(res, backlog, true);
        int saved = errno;
        freeaddrinfo(res);
        if (fd >= 0)
            return fd;
        errno = saved;
        why = strerror(saved);
        /* Only a kernel without IPv6 makes us fall back to IPv4. */
        if (saved != EAFNOSUPPORT && saved != EADDRNOTAVAIL)
            break;
    }
    return error_set(error_r, "listen on *:%s: %s", port, why);
}

int inet_listen(const char *host, const char *port, int backlog, char **error_r)
{
    if (port == NULL || *port == '\0') {
        errno = EINVAL;
        return error_set(error_r, "listen: empty port");
    }
    char *name = inet_host_strip(host);
    if (name == NULL)
        return inet_listen_any(port, backlog, error_r);

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_ADDRCONFIG};
    struct addrinfo *res;
    int gai = getaddrinfo(name, port, &hints, &res);
    if (gai != 0) {
        errno = EINVAL;
        error_set(error_r, "listen on [%s]:%s: %s", name, port, gai_strerror(gai));
        free(name);
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = inet_listen_addr(ai, backlog, false);
    if (fd < 0)
        error_set(error_r, "listen on [%s]:%s: %s", name, port, strerror(errno));
    freeaddrinfo(res);
    free(name);
    return fd;
}

/* ---- UNIX ----------------------------------------------------------- */

static int unix_addr(const char *path, struct sockaddr_un *sun, char **error_r)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (*path == '\0' || str_lcpy(sun->sun_path, path, sizeof(sun->sun_path)) < 0) {
        errno = ENAMETOOLONG;
        return error_set(error_r, "socket path '%s': empty or longer than %zu bytes", path,
                         sizeof(sun->sun_path) - 1);
    }
    return 0;
}

/* Remove a leftover socket at path; refuse to touch any other file type. */
static int unix_remove_stale(const char *path, char **error_r)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set(error_r, "stat %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
        errno = EEXIST;
        return error_set(error_r, "%s exists and is not a socket", path);
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set(error_r, "remove stale socket %s: %s", path, strerror(errno));
    return 0;
}

int unix_listen(const char *path, int backlog, mode_t mode, char **error_r)
{
    struct sockaddr_un sun;
    if (unix_addr(path, &sun, error_r) < 0 || unix_remove_stale(path, error_r) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(error_r, "socket: %s", strerror(errno));
    /* fchmod on a socket before bind sets the inode's mode on Linux; chmod
     * after bind is the portable way. */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        goto fail;
    if (chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        unlink(path);
        errno = saved;
        goto fail;
    }
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return error_set(error_r, "listen on %s: %s", path, strerror(errno));
}

/* Wait for a non-blocking connect in progress; 0 or -1 with errno. */
static int unix_connect_wait(int fd, int64_t deadline)
{
    if (stream_wait_fd(fd, POLLOUT, deadline) < 0)
        return -1;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -1;
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

/* connect() that retries a full listen queue (EAGAIN) until the deadline. */
static int unix_connect_fd(int fd, const struct sockaddr_un *sun, int64_t deadline, bool once)
{
    for (;;) {
        if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
            return 0;
        if (errno == EINPROGRESS)
            return unix_connect_wait(fd, deadline);
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (once && errno == EAGAIN)
            return -1;
        if (deadline >= 0 && stream_now_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int unix_connect(const char *path, int timeout_ms, char **error_r)
{
    struct sockaddr_un sun;
    if (unix_addr(path, &sun, error_r) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set(error_r, "socket: %s", strerror(errno));
    bool once = timeout_ms == UNIX_CONNECT_NOWAIT;
    int64_t deadline = timeout_ms > 0 ? stream_now_ms() + timeout_ms : -1;
    if (once)
        deadline = stream_now_ms() + 100; /* bounds an (unexpected) EINPROGRESS */
    if (unix_connect_fd(fd, &sun, deadline, once) < 0 || sock_set_nonblock(fd, false) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return error_set(error_r, "connect to %s: %s", path, strerror(errno));
    }
    return fd;
}

/*
 * master_wakeup.c - periodic wakeup requests for services with a wakeup
 * time in master.cf: master writes "W" to the service's own UNIX socket
 * or FIFO, which makes it readable, so a child is started if none is
 * running and the daemon's trigger handler runs.  With a trailing '?'
 * (wakeup_if_used) the request is sent only once the service has had a
 * child.  Requests never block master: a full FIFO or a busy socket
 * simply skips this round.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

#include <fcntl.h>
#include <sys/socket.h>

#define WAKEUP_REQUEST "W"
#define WAKEUP_CONNECT_MS 100

void master_wakeup_schedule(struct master_service *svc, int64_t now)
{
    if (svc->conf->wakeup <= 0 || svc->conf->type == MCF_INET) {
        svc->next_wakeup = 0;
        return;
    }
    svc->next_wakeup = now + 1000LL * svc->conf->wakeup;
}

static void wakeup_fifo(const struct master_service *svc)
{
    int fd = open(svc->sock_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        msg_warn("wakeup %s: open %s: %s", svc->conf->name, svc->sock_path, strerror(errno));
        return;
    }
    if (write(fd, WAKEUP_REQUEST, 1) < 0 && errno != EAGAIN)
        msg_warn("wakeup %s: write %s: %s", svc->conf->name, svc->sock_path, strerror(errno));
    close(fd);
}

static void wakeup_unix(const struct master_service *svc)
{
    char *error = NULL;
    int fd = unix_connect(svc->sock_path, WAKEUP_CONNECT_MS, &error);
    if (fd < 0) {
        msg_warn("wakeup %s: %s", svc->conf->name, error);
        free(error);
        return;
    }
    (void)sock_set_nonblock(fd, true);
    if (send(fd, WAKEUP_REQUEST, 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        msg_warn("wakeup %s: write %s: %s", svc->conf->name, svc->sock_path, strerror(errno));
    close(fd);
}

void master_wakeup_run(int64_t now)
{
    for (struct master_service *svc = master_services; svc; svc = svc->next) {
        if (svc->next_wakeup == 0 || now < svc->next_wakeup)
            continue;
        master_wakeup_schedule(svc, now);
        if (svc->nlisten == 0 || (svc->conf->wakeup_if_used && !svc->used))
            continue;
        if (svc->conf->type == MCF_FIFO)
            wakeup_fifo(svc);
        else
            wakeup_unix(svc);
    }
}

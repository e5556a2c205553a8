/*
 * master_service.c - the list of services: created from master.cf at
 * start, reconciled with a new master.cf on reload.
 *
 * On reload a service is identified by its name and type.  An unchanged
 * service is kept as it is; a changed one is replaced, keeping its
 * listening sockets when the address is the same (so no connection
 * attempt is refused in between); a dropped one closes its listeners and
 * its status pipe, which tells its children to exit once idle - busy
 * children finish their client first.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "stream.h"

#include <fcntl.h>

struct master_service *master_services;

const char *master_type_name(enum mastercf_type t)
{
    switch (t) {
    case MCF_INET:
        return "inet";
    case MCF_UNIX:
        return "unix";
    case MCF_FIFO:
        return "fifo";
    default:
        return "pass";
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static char **vec_dup(char *const *v, int n)
{
    char **out = xcalloc((size_t)n + 1, sizeof(*out));
    for (int i = 0; i < n && v != NULL && v[i] != NULL; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void vec_free(char ***vp, int n)
{
    for (int i = 0; i < n && *vp != NULL; i++)
        free((*vp)[i]);
    xfree(*vp);
}

static struct mastercf_entry *entry_dup(const struct mastercf_entry *e)
{
    struct mastercf_entry *c = xmalloc(sizeof(*c));
    *c = *e;
    c->name = xstrdup(e->name);
    c->host = dup_or_null(e->host);
    c->port = dup_or_null(e->port);
    c->command = xstrdup(e->command);
    c->argv = vec_dup(e->argv, e->argc);
    c->overrides = vec_dup(e->overrides, e->noverrides);
    c->file = xstrdup(e->file != NULL ? e->file : "master.cf");
    return c;
}

static void entry_free(struct mastercf_entry **ep)
{
    struct mastercf_entry *e = *ep;
    free(e->name);
    free(e->host);
    free(e->port);
    free(e->command);
    vec_free(&e->argv, e->argc);
    vec_free(&e->overrides, e->noverrides);
    free(e->file);
    xfree(*ep);
}

static bool vec_same(char *const *a, int na, char *const *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* Same service in every field that matters to master or its children. */
static bool entry_same(const struct mastercf_entry *a, const struct mastercf_entry *b)
{
    return master_listen_same(a, b) && a->unpriv == b->unpriv && a->chroot == b->chroot &&
           a->wakeup == b->wakeup && a->wakeup_if_used == b->wakeup_if_used &&
           a->maxproc == b->maxproc && strcmp(a->command, b->command) == 0 &&
           vec_same(a->argv, a->argc, b->argv, b->argc) &&
           vec_same(a->overrides, a->noverrides, b->overrides, b->noverrides);
}

static char *service_sock_path(const struct mastercf_entry *e, const struct master_params *p)
{
    if (e->type == MCF_INET)
        return NULL;
    return xasprintf("%s/%s/%s", p->queue_directory, e->private_ ? "private" : "public", e->name);
}

/* Create a service without listeners; master_listen_open binds them. */
struct master_service *master_service_new(const struct mastercf_entry *e,
                                          const struct master_params *p)
{
    struct master_service *svc = xcalloc(1, sizeof(*svc));
    svc->conf = entry_dup(e);
    svc->path = e->command[0] == '/' ? xstrdup(e->command)
                                     : xasprintf("%s/%s", p->daemon_directory, e->command);
    svc->sock_path = service_sock_path(e, p);
    svc->maxproc = e->maxproc < 0 ? (int)p->default_process_limit : e->maxproc;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    svc->status_rd = fds[0];
    svc->status_wr = fds[1];
    (void)fcntl(svc->status_rd, F_SETFL, O_NONBLOCK);
    master_wakeup_schedule(svc, stream_now_ms());
    return svc;
}

void master_service_free(struct master_service *svc, bool retire)
{
    master_listen_close(svc, retire);
    master_procs_forget_service(svc);
    close(svc->status_rd);
    close(svc->status_wr);
    entry_free(&svc->conf);
    free(svc->path);
    free(svc->sock_path);
    free(svc);
}

static void service_log(const char *what, const struct master_service *svc)
{
    msg_info("%s service %s/%s (%s, line %d)", what, svc->conf->name,
             master_type_name(svc->conf->type), svc->conf->file, svc->conf->line);
}

int master_services_start(const struct mastercf *cf)
{
    struct master_service **tail = &master_services;
    for (size_t i = 0; i < cf->count; i++) {
        struct master_service *svc = master_service_new(&cf->entries[i], &master_params);
        *tail = svc;
        tail = &svc->next;
        if (master_listen_open(svc, &master_params) < 0)
            return -1;
    }
    return 0;
}

static struct master_service *service_find(const struct mastercf_entry *e)
{
    for (struct master_service *s = master_services; s; s = s->next)
        if (s->conf->type == e->type && strcmp(s->conf->name, e->name) == 0)
            return s;
    return NULL;
}

/* Replace old by a service built from e, moving listeners when possible. */
static struct master_service *service_replace(struct master_service *old,
                                              const struct mastercf_entry *e, bool addr_ok)
{
    struct master_service *svc = master_service_new(e, &master_params);
    if (addr_ok && master_listen_same(old->conf, e)) {
        svc->listen_fds = old->listen_fds;
        svc->nlisten = old->nlisten;
        old->listen_fds = NULL;
        old->nlisten = 0;
    } else {
        master_listen_close(old, true);
        if (master_listen_open(svc, &master_params) < 0)
            msg_warn("service %s/%s: not listening after reload", e->name,
                     master_type_name(e->type));
    }
    service_log("changed", svc);
    return svc;
}

/*
 * Reconcile with a new master.cf.  addr_ok says whether bare-port inet
 * listeners may be kept (inet_interfaces and inet_protocols unchanged).
 */
static void services_reconcile(const struct mastercf *cf, bool addr_ok)
{
    struct master_service *list = NULL, **tail = &list;
    for (struct master_service *s = master_services; s; s = s->next)
        s->mark = false;
    for (size_t i = 0; i < cf->count; i++) {
        const struct mastercf_entry *e = &cf->entries[i];
        struct master_service *old = service_find(e), *svc;
        bool keep_addr = addr_ok || e->type != MCF_INET || e->host != NULL;
        if (old != NULL && old->mark)
            old = NULL; /* duplicate line: the parser should have refused it */
        if (old != NULL && entry_same(old->conf, e) && keep_addr) {
            svc = old;
            free(svc->conf->file);
            svc->conf->file = xstrdup(e->file != NULL ? e->file : "master.cf");
            svc->conf->line = e->line;
        } else if (old != NULL) {
            svc = service_replace(old, e, keep_addr);
        } else {
            svc = master_service_new(e, &master_params);
            if (master_listen_open(svc, &master_params) < 0)
                msg_warn("service %s/%s: not listening", e->name, master_type_name(e->type));
            service_log("added", svc);
        }
        if (old != NULL)
            old->mark = true;
        svc->mark = true;
        *tail = svc;
        tail = &svc->next;
    }
    *tail = NULL;
    /* Whatever of the old list is not in the new one goes. */
    for (struct master_service *s = master_services, *next; s; s = next) {
        next = s->next;
        bool kept = false;
        for (struct master_service *n = list; n; n = n->next)
            kept = kept || n == s;
        if (!kept) {
            if (!s->mark)
                service_log("removed", s);
            master_service_free(s, !s->mark || s->nlisten > 0);
        }
    }
    master_services = list;
}

static bool lists_same(char **a, char **b)
{
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return false;
    return *a == NULL && *b == NULL;
}

/* New main.cf values are in place in master_params; the old ones in prev. */
void master_services_reload(const struct mastercf *cf, const struct master_params *prev)
{
    bool addr_ok = lists_same(prev->inet_interfaces, master_params.inet_interfaces) &&
                   prev->want_ipv4 == master_params.want_ipv4 &&
                   prev->want_ipv6 == master_params.want_ipv6;
    services_reconcile(cf, addr_ok);
}

void master_services_free_all(void)
{
    for (struct master_service *s = master_services, *next; s; s = next) {
        next = s->next;
        master_service_free(s, false);
    }
    master_services = NULL;
}

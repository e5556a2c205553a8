/*
 * master.c - `ternconf -M`: print the services of master.cf, one per line,
 * with every field spelled out (defaults resolved), as master will use them.
 */
#include "ternconf.h"

#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"

static const char *mcf_type(enum mastercf_type t)
{
    static const char *const names[] = {"inet", "unix", "fifo", "pass"};
    return names[t];
}

/* "service" or "service/type" selects an entry; no names select all. */
static bool mcf_selected(const struct mastercf_entry *e, char **names, int n)
{
    if (n == 0)
        return true;
    for (int i = 0; i < n; i++) {
        const char *slash = strchr(names[i], '/');
        size_t len = slash ? (size_t)(slash - names[i]) : strlen(names[i]);
        if (strlen(e->name) == len && memcmp(e->name, names[i], len) == 0 &&
            (slash == NULL || strcmp(slash + 1, mcf_type(e->type)) == 0))
            return true;
    }
    return false;
}

static void mcf_print(const struct mastercf_entry *e)
{
    char wakeup[16], maxproc[16];
    snprintf(wakeup, sizeof(wakeup), "%d%s", e->wakeup, e->wakeup_if_used ? "?" : "");
    snprintf(maxproc, sizeof(maxproc), "%d", e->maxproc);
    printf("%-10s %-5s %-7s %-7s %-7s %-7s %-7s", e->name, mcf_type(e->type),
           e->private_ ? "y" : "n", e->unpriv ? "y" : "n", e->chroot ? "y" : "n", wakeup,
           e->maxproc < 0 ? "-" : maxproc);
    for (int i = 0; i < e->argc; i++)
        printf(" %s", e->argv[i]);
    putchar('\n');
}

int ternconf_print_master(const char *dir, char **names, int nnames)
{
    char *path = xasprintf("%s/master.cf", dir);
    struct mastercf *m = mastercf_parse_file(path);
    free(path);
    if (m == NULL)
        return -1;
    for (size_t i = 0; i < m->count; i++)
        if (mcf_selected(&m->entries[i], names, nnames))
            mcf_print(&m->entries[i]);
    mastercf_free(&m);
    return 0;
}

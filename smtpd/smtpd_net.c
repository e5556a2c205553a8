/*
 * smtpd_net.c - client address lists given as a parameter: mynetworks,
 * smtpd_forbid_bare_newline_exclusions.  Entries are network/prefix or
 * bare addresses (IPv4, IPv6, IPv6 in [brackets]), "!entry" to exclude,
 * or type:table lookup tables (cidr:, hash:, ...) keyed by the client
 * address.  Host names need DNS and are skipped with a warning.
 */
#include "smtpd.h"

#include <ctype.h>
#include <strings.h>

#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"

struct smtpd_netlist {
    char *param;
    dict_t *cidr;    /* the address entries, as one cidr table */
    dict_t **tables; /* type:table entries */
    size_t ntables;
};

/* "cidr:/x", "hash:/y": a type we know before the first ':'. */
static bool smtpd_net_is_table(const char *e)
{
    const char *colon = strchr(e, ':');
    if (colon == NULL || colon == e || e[0] == '[')
        return false;
    char *type = xstrndup(e, (size_t)(colon - e));
    bool known = dict_type_known(type);
    free(type);
    return known;
}

static bool smtpd_net_is_addr(const char *e)
{
    for (; *e != '\0'; e++)
        if (!isxdigit((unsigned char)*e) && strchr(".:/[]!", *e) == NULL)
            return false;
    return true;
}

static void smtpd_net_add_table(smtpd_netlist_t *l, const char *spec)
{
    char *err = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &err);
    if (d == NULL) {
        msg_warn("%s: %s: %s", l->param, spec, err);
        free(err);
        return;
    }
    l->tables = xreallocarray(l->tables, l->ntables + 1, sizeof(*l->tables));
    l->tables[l->ntables++] = d;
}

smtpd_netlist_t *smtpd_netlist_open(const char *param)
{
    smtpd_netlist_t *l = xcalloc(1, sizeof(*l));
    l->param = xstrdup(param);
    char **list = cfg_list(param);
    str_t *text = str_new(256);
    for (char **e = list; *e != NULL; e++) {
        if (smtpd_net_is_table(*e))
            smtpd_net_add_table(l, *e);
        else if (smtpd_net_is_addr(*e))
            /* "!net" excludes: the first match decides, as in the list. */
            (void)str_appendf(text, "%s %s\n", *e + ((*e)[0] == '!'),
                              (*e)[0] == '!' ? "DUNNO" : "OK");
        else
            msg_warn("%s: %s: host names and files are not supported; entry ignored", param, *e);
    }
    cfg_list_free(&list);
    if (str_len(text) > 0) {
        char *err = NULL;
        l->cidr = dict_cidr_open_text(param, str_c(text), str_len(text), 0, &err);
        if (l->cidr == NULL) {
            msg_warn("%s: %s", param, err);
            free(err);
        }
    }
    str_free(&text);
    return l;
}

int smtpd_netlist_match(smtpd_netlist_t *l, const char *addr)
{
    const char *v;
    if (l->cidr != NULL) {
        int r = dict_lookup(l->cidr, addr, &v);
        if (r != 0)
            return r < 0 ? -1 : strcmp(v, "OK") == 0;
    }
    for (size_t i = 0; i < l->ntables; i++) {
        int r = dict_lookup(l->tables[i], addr, &v);
        if (r < 0)
            return -1;
        if (r > 0)
            return strcasecmp(v, "DUNNO") != 0 && strncasecmp(v, "REJECT", 6) != 0;
    }
    return 0;
}

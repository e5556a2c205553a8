/*
 * main.c - ternconf, the configuration tool (like Postfix's postconf).
 *
 *   ternconf [-c DIR] [-n | -d] [-h] [-x] [name...]   print parameters
 *   ternconf [-c DIR] -e name=value...                 edit main.cf
 *   ternconf [-c DIR] -X name...                       remove from main.cf
 *   ternconf [-c DIR] -M [service[/type]...]           print master.cf
 *   ternconf -m                                        main.cf(5) PARAMETERS (roff)
 *
 * Values are printed unexpanded, as written, unless -x is given.  Errors in
 * main.cf are printed as "FILE, line N: ..." and make the exit status 1.
 */
#include "ternconf.h"

#include "config.h"
#include "log.h"
#include "mem.h"

#include <getopt.h>

enum mode { MODE_SHOW, MODE_EDIT, MODE_REMOVE, MODE_MASTER, MODE_MAN };

struct opts {
    const char *dir;
    enum mode mode;
    bool set_only;   /* -n */
    bool defaults;   /* -d */
    bool value_only; /* -h */
    bool expand;     /* -x */
};

static TERN_NORETURN void usage(void)
{
    fprintf(stderr, "usage: ternconf [-c dir] [-n | -d] [-h] [-x] [name...]\n"
                    "       ternconf [-c dir] -e name=value...\n"
                    "       ternconf [-c dir] -X name...\n"
                    "       ternconf [-c dir] -M [service[/type]...]\n");
    exit(2);
}

static void print_value(const struct opts *o, const char *name, const char *value)
{
    if (o->value_only)
        printf("%s\n", value);
    else if (*value == '\0')
        printf("%s =\n", name);
    else
        printf("%s = %s\n", name, value);
}

/* The value to show for a table parameter; NULL when -n and not set. */
static const char *show_known(const struct opts *o, const char *name, char **tofree)
{
    bool set;
    if (o->defaults)
        return cfg_default(name);
    const char *raw = cfg_raw(name, &set);
    if (o->set_only && !set)
        return NULL;
    if (o->expand)
        return *tofree = cfg_expand(raw);
    return raw;
}

static void show_one(const struct opts *o, const char *name)
{
    char *tofree = NULL;
    const char *value = show_known(o, name, &tofree);
    if (value)
        print_value(o, name, value);
    free(tofree);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All table names, plus main.cf's unknown names unless -d; sorted. */
static char **all_names(const struct opts *o, size_t *n_r)
{
    char **unknown = o->defaults ? xcalloc(1, sizeof(char *)) : config_unknown_names();
    size_t nu = 0;
    while (unknown[nu])
        nu++;
    char **names = xreallocarray(NULL, param_table_count + nu + 1, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < param_table_count; i++)
        names[n++] = xstrdup(param_table[i].name);
    for (size_t i = 0; i < nu; i++)
        names[n++] = xstrdup(unknown[i]);
    names[n] = NULL;
    cfg_list_free(&unknown);
    qsort(names, n, sizeof(*names), name_cmp);
    *n_r = n;
    return names;
}

static void show_name(const struct opts *o, const char *name)
{
    if (param_find(name)) {
        show_one(o, name);
        return;
    }
    const char *raw = config_unknown_value(name);
    if (raw == NULL)
        return;
    char *exp = o->expand ? cfg_expand(raw) : NULL;
    print_value(o, name, exp ? exp : raw);
    free(exp);
}

static int show(const struct opts *o, char **names, int n)
{
    int rc = 0;
    if (n == 0) {
        size_t count;
        char **all = all_names(o, &count);
        for (size_t i = 0; i < count; i++)
            if (o->set_only ? true : param_find(all[i]) != NULL)
                show_name(o, all[i]);
        cfg_list_free(&all);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (param_find(names[i]) == NULL &&
            (o->defaults || config_unknown_value(names[i]) == NULL)) {
            msg_warn("%s: unknown parameter", names[i]);
            rc = -1;
            continue;
        }
        show_name(o, names[i]);
    }
    return rc;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int ch;
    while ((ch = getopt(argc, argv, "c:dehmnMvxX")) != -1) {
        switch (ch) {
        case 'c':
            o->dir = optarg;
            break;
        case 'd':
            o->defaults = true;
            break;
        case 'e':
            o->mode = MODE_EDIT;
            break;
        case 'h':
            o->value_only = true;
            break;
        case 'm':
            o->mode = MODE_MAN;
            break;
        case 'n':
            o->set_only = true;
            break;
        case 'M':
            o->mode = MODE_MASTER;
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        case 'x':
            o->expand = true;
            break;
        case 'X':
            o->mode = MODE_REMOVE;
            break;
        default:
            usage();
        }
    }
    if (o->set_only && o->defaults)
        usage();
}

int main(int argc, char **argv)
{
    struct opts o = {.mode = MODE_SHOW};
    log_init(argv[0]);
    log_open("tern", "/dev/null");
    log_also_stderr(true);
    parse_opts(argc, argv, &o);
    char **names = argv + optind;
    int n = argc - optind;
    if (o.dir == NULL)
        o.dir = config_dir();

    switch (o.mode) {
    case MODE_MAN:
        ternconf_print_man(stdout);
        return 0;
    case MODE_EDIT:
    case MODE_REMOVE:
        if (n == 0)
            usage();
        return ternconf_edit(o.dir, names, n, o.mode == MODE_REMOVE) < 0 ? 1 : 0;
    case MODE_MASTER:
        return ternconf_print_master(o.dir, names, n) < 0 ? 1 : 0;
    case MODE_SHOW:
        break;
    }
    if (!o.defaults && config_load(o.dir) < 0)
        return 1;
    int rc = show(&o, names, n);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write to standard output: %s", strerror(errno));
    return rc < 0 ? 1 : 0;
}

/*
 * ternmap.c - the map tool (postmap(1)-alike):
 *
 *   ternmap [-c DIR] [-A] [-f] [-N] [-v] [type:]file...      build
 *   ternmap [-c DIR] [-f] -q KEY [type:]file...              query
 *   ternmap [-c DIR] [-f] -q - [type:]file...                query keys on stdin
 *   ternmap [-c DIR] -s [type:]file...                       dump "key value"
 *   ternmap [-c DIR] [-f] -d KEY [type:]file...              delete
 *
 * Without a type the default_database_type parameter of main.cf is used.
 * Building a non-indexed type (cidr:, regexp:, texthash:, ...) only checks
 * its syntax.  Exit status as postmap: 0 success / found, 1 an error or
 * (with -q and -d) the key was not found.
 */
#include "sys.h"

#include <getopt.h>
#include <sys/stat.h>

#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

#define TERNMAP_KEY_MAX 4096

enum ternmap_mode { MODE_BUILD, MODE_QUERY, MODE_DUMP, MODE_DELETE };

struct ternmap_opts {
    enum ternmap_mode mode;
    const char *key;
    const char *config_dir;
    int flags;
    bool config_loaded;
};

static void ternmap_usage(void)
{
    fprintf(stderr, "usage: ternmap [-c config_dir] [-A] [-f] [-N] [-v] [type:]file...\n"
                    "       ternmap [-c config_dir] [-f] -q key|- [type:]file...\n"
                    "       ternmap [-c config_dir] -s [type:]file...\n"
                    "       ternmap [-c config_dir] [-f] -d key [type:]file...\n");
    exit(1);
}

/* Load main.cf once, when -c was given or a default type is needed. */
static void ternmap_config(struct ternmap_opts *o)
{
    if (o->config_loaded)
        return;
    o->config_loaded = true;
    const char *dir = o->config_dir;
    if (dir == NULL)
        dir = getenv("MAIL_CONFIG");
    if (dir == NULL) {
        struct stat st;
        if (stat(TERN_SYSCONFDIR "/main.cf", &st) < 0)
            return; /* no installed configuration: built-in defaults */
        dir = TERN_SYSCONFDIR;
    }
    if (config_load(dir) < 0)
        msg_fatal("cannot load the configuration from %s", dir);
}

/* "type:name", or default_database_type:name for a bare file name. */
static char *ternmap_spec(struct ternmap_opts *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (colon != NULL && colon != arg && memchr(arg, '/', (size_t)(colon - arg)) == NULL)
        return xstrdup(arg);
    ternmap_config(o);
    return xasprintf("%s:%s", cfg_str("default_database_type"), arg);
}

static dict_t *ternmap_open(const struct ternmap_opts *o, const char *spec)
{
    char *error = NULL;
    dict_t *d = dict_open(spec, o->flags, &error);
    if (d == NULL)
        msg_fatal("%s", error);
    return d;
}

static int ternmap_build(const struct ternmap_opts *o, const char *spec)
{
    const char *colon = strchr(spec, ':');
    char *type = xstrndup(spec, (size_t)(colon - spec));
    bool indexed = dict_type_indexed(type);
    bool known = dict_type_known(type);
    free(type);
    char *error = NULL;
    if (!known || !indexed) {
        /* Nothing to build: open it to check the syntax. */
        dict_t *d = dict_open(spec, o->flags, &error);
        if (d == NULL) {
            msg_error("%s", error);
            free(error);
            return -1;
        }
        dict_close(&d);
        return 0;
    }
    if (dict_build(spec, o->flags, &error) < 0) {
        msg_error("cannot build %s: %s", spec, error);
        free(error);
        return -1;
    }
    return 0;
}

static int ternmap_print(const char *key, const char *value, void *ctx)
{
    (void)ctx;
    printf("%s %s\n", key, value);
    return 0;
}

/* Query key in the tables in order; prints the first value. 1/0/-1. */
static int ternmap_query_one(dict_t **dicts, int n, const char *key, bool with_key)
{
    for (int i = 0; i < n; i++) {
        const char *value;
        int r = dict_lookup(dicts[i], key, &value);
        if (r < 0)
            msg_fatal("table %s: query error for \"%s\"", dict_spec(dicts[i]), key);
        if (r == 1) {
            if (with_key) {
                printf("%s %s\n", key, value);
                fflush(stdout); /* answer a reader on a pipe at once */
            } else
                printf("%s\n", value);
            return 1;
        }
    }
    return 0;
}

/* -q -: keys from stdin, "key value" for each found; 0 if any found. */
static int ternmap_query_stdin(dict_t **dicts, int n)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int found = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *key = line + strspn(line, " \t");
        if (*key != '\0' && ternmap_query_one(dicts, n, key, true) == 1)
            found = 1;
    }
    free(line);
    return found;
}

static int ternmap_query(const struct ternmap_opts *o, char **specs, int n)
{
    dict_t **dicts = xcalloc((size_t)n, sizeof(*dicts));
    for (int i = 0; i < n; i++)
        dicts[i] = ternmap_open(o, specs[i]);
    int found = strcmp(o->key, "-") == 0 ? ternmap_query_stdin(dicts, n)
                                         : ternmap_query_one(dicts, n, o->key, false);
    for (int i = 0; i < n; i++)
        dict_close(&dicts[i]);
    free(dicts);
    fflush(stdout);
    return found ? 0 : 1;
}

static int ternmap_dump(const struct ternmap_opts *o, const char *spec)
{
    dict_t *d = ternmap_open(o, spec);
    int r = dict_iterate(d, ternmap_print, NULL);
    dict_close(&d);
    return r;
}

/* Delete from each table; 1 if deleted anywhere, 0 if not, -1 error. */
static int ternmap_delete(const struct ternmap_opts *o, const char *spec)
{
    dict_t *d = ternmap_open(o, spec);
    int r = dict_delete(d, o->key);
    dict_close(&d);
    return r;
}

static void ternmap_set_mode(struct ternmap_opts *o, enum ternmap_mode mode, const char *key)
{
    if (o->mode != MODE_BUILD)
        msg_fatal("options -q, -s and -d exclude each other");
    if (key != NULL && strlen(key) > TERNMAP_KEY_MAX)
        msg_fatal("key longer than %d bytes", TERNMAP_KEY_MAX);
    o->mode = mode;
    o->key = key;
}

static void ternmap_parse(struct ternmap_opts *o, int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "Ac:d:fNnq:sv")) != -1) {
        switch (c) {
        case 'A':
            o->flags |= DICT_FLAG_ALIAS;
            break;
        case 'c':
            o->config_dir = optarg;
            break;
        case 'd':
            ternmap_set_mode(o, MODE_DELETE, optarg);
            break;
        case 'f':
            o->flags = (o->flags & ~DICT_FLAG_FOLD_KEY) | DICT_FLAG_NO_FOLD;
            break;
        case 'N':
            break; /* keys and values always carry their NUL (see dict.h) */
        case 'n':
            msg_fatal("-n is not supported: tables always store the terminating NUL");
        case 'q':
            ternmap_set_mode(o, MODE_QUERY, optarg);
            break;
        case 's':
            ternmap_set_mode(o, MODE_DUMP, NULL);
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        default:
            ternmap_usage();
        }
    }
    if (optind >= argc)
        ternmap_usage();
}

int main(int argc, char **argv)
{
    log_init("ternmap");
    if (log_open("tern", "/dev/null") < 0)
        log_open("tern", "/dev/stderr");
    else
        log_also_stderr(true);
    struct ternmap_opts o = {.mode = MODE_BUILD, .flags = DICT_FLAG_DEFAULT};
    ternmap_parse(&o, argc, argv);
    if (o.config_dir != NULL)
        ternmap_config(&o);
    int n = argc - optind;
    char **specs = xcalloc((size_t)n, sizeof(*specs));
    for (int i = 0; i < n; i++)
        specs[i] = ternmap_spec(&o, argv[optind + i]);
    int status = 0, deleted = 0;
    if (o.mode == MODE_QUERY)
        status = ternmap_query(&o, specs, n);
    for (int i = 0; i < n && o.mode != MODE_QUERY; i++) {
        int r = o.mode == MODE_BUILD  ? ternmap_build(&o, specs[i])
                : o.mode == MODE_DUMP ? ternmap_dump(&o, specs[i])
                                      : ternmap_delete(&o, specs[i]);
        if (r < 0)
            status = 1;
        if (r == 1)
            deleted = 1;
    }
    if (o.mode == MODE_DELETE && status == 0 && !deleted)
        status = 1;
    for (int i = 0; i < n; i++)
        free(specs[i]);
    free(specs);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %s", strerror(errno));
    return status;
}

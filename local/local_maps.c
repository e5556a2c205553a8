/*
 * local_maps.c - lookups in the tables named by a list parameter
 * (alias_maps, virtual_mailbox_maps, virtual_uid_maps, ...).  Tables are
 * opened on first use and kept for the life of the process; a table that
 * cannot be opened or read is a temporary error (-1), never "not found".
 */
#include "local.h"

#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <sys/stat.h>

struct local_map {
    char *spec;
    dict_t *dict;
};

static struct local_map *local_maps;
static size_t local_nmaps;

static dict_t *local_map_get(const char *spec)
{
    for (size_t i = 0; i < local_nmaps; i++)
        if (strcmp(local_maps[i].spec, spec) == 0)
            return local_maps[i].dict;
    char *err = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &err);
    if (d == NULL) {
        msg_warn("cannot open table %s: %s", spec, err);
        free(err);
        return NULL;
    }
    local_maps = xreallocarray(local_maps, local_nmaps + 1, sizeof(*local_maps));
    local_maps[local_nmaps].spec = xstrdup(spec);
    local_maps[local_nmaps].dict = d;
    local_nmaps++;
    return d;
}

int local_maps_lookup(const char *param, const char *key, const char **value_r, const char **spec_r)
{
    char **list = cfg_list(param);
    int rc = 0;
    for (size_t i = 0; list[i] != NULL && rc == 0; i++) {
        dict_t *d = local_map_get(list[i]);
        if (d == NULL) {
            rc = -1;
            break;
        }
        rc = dict_lookup(d, key, value_r);
        if (rc == 1 && spec_r)
            *spec_r = dict_spec(d);
    }
    cfg_list_free(&list);
    return rc;
}

int local_maps_owner(const char *spec, uid_t *uid_r, gid_t *gid_r)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL)
        return -1;
    char *type = xstrndup(spec, (size_t)(colon - spec));
    char *path = dict_indexed_path(type, colon + 1);
    if (path == NULL)
        path = xstrdup(colon + 1);
    free(type);
    struct stat st;
    int rc = path[0] == '/' && stat(path, &st) == 0 ? 0 : -1;
    free(path);
    if (rc == 0) {
        *uid_r = st.st_uid;
        *gid_r = st.st_gid;
    }
    return rc;
}

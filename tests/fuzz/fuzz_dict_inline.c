/*
 * fuzz_dict_inline.c - libFuzzer target for the inline: and static:
 * table specs.  The first byte picks the type; the rest is the name and,
 * after a NUL, a key to look up.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_open("fuzz", "/dev/null");
        init = true;
    }
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(rest, '\0', n);
    size_t name_len = nul ? (size_t)(nul - rest) : n;
    char *name = xstrndup(rest, name_len);
    char *key = nul ? xstrndup(nul + 1, n - name_len - 1) : xstrdup("key");
    char *spec = xasprintf("%s:%s", (data[0] & 1) ? "static" : "inline", name);
    char *error = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
    if (d != NULL) {
        const char *v;
        if (dict_lookup(d, key, &v) == 1 && v == NULL)
            abort();
        dict_close(&d);
    } else if (error == NULL) {
        abort(); /* failure must say why */
    }
    free(error);
    free(spec);
    free(key);
    free(name);
    return 0;
}

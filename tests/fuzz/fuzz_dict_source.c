/*
 * fuzz_dict_source.c - libFuzzer target for the table source parser
 * (dict_source_parse, postmap and aliases formats) and texthash's use of it.
 * The first byte picks the format.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"

static int fuzz_entry(const char *key, const char *value, int line, void *ctx)
{
    (void)ctx;
    if (*key == '\0' && *value == '\0' && line < 1)
        abort(); /* entries always have a value and a line */
    if (*value == '\0' || line < 1)
        abort();
    return 0;
}

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
    bool alias = data[0] & 1;
    char *error = NULL;
    dict_source_parse((const char *)data + 1, size - 1, "fuzz", alias, fuzz_entry, NULL, &error);
    free(error);
    return 0;
}

/*
 * fuzz_mastercf.c - libFuzzer target for the master.cf parser
 * (mastercf_parse_string); walks every entry of a successful parse.
 */
#include "sys.h"
#include "log.h"
#include "mastercf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_init("fuzz_mastercf");
        log_open("tern", "/dev/null");
        init = true;
    }
    struct mastercf *m = mastercf_parse_string((const char *)data, size, "fuzz.cf");
    if (m == NULL)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < m->count; i++) {
        const struct mastercf_entry *e = &m->entries[i];
        for (int j = 0; j < e->argc; j++)
            total += strlen(e->argv[j]);
        for (int j = 0; j < e->noverrides; j++)
            total += strlen(e->overrides[j]);
        total += strlen(e->name) + strlen(e->command) + (e->port ? strlen(e->port) : 0);
    }
    (void)total;
    mastercf_free(&m);
    return 0;
}

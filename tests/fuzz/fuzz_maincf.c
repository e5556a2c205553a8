/*
 * fuzz_maincf.c - libFuzzer target for the main.cf parser and $name
 * expansion (config_load_string), then every typed getter on the result.
 */
#include "sys.h"
#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_init("fuzz_maincf");
        log_open("tern", "/dev/null");
        init = true;
    }
    if (config_load_string((const char *)data, size, "fuzz.cf") == 0) {
        for (size_t i = 0; i < param_table_count; i++) {
            const struct param_def *d = &param_table[i];
            (void)cfg_str(d->name);
            if (d->type == PARAM_INT || d->type == PARAM_SIZE)
                (void)cfg_int(d->name);
            else if (d->type == PARAM_TIME)
                (void)cfg_time(d->name);
            else if (d->type == PARAM_BOOL)
                (void)cfg_bool(d->name);
            char **l = cfg_list(d->name);
            cfg_list_free(&l);
        }
        char **u = config_unknown_names();
        cfg_list_free(&u);
    }
    return 0;
}

/*
 * fuzz_dict_cidr.c - libFuzzer target for the cidr table parser and its
 * matcher: the input is table text; a few fixed addresses are looked up.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *keys[] = {"10.1.2.3", "192.0.2.255",
                                 "::1",      "2001:db8::1",
                                 "0.0.0.0",  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                 "x"};
    static bool init;
    if (!init) {
        log_open("fuzz", "/dev/null");
        init = true;
    }
    char *error = NULL;
    dict_t *d = dict_cidr_open_text("fuzz", (const char *)data, size, 0, &error);
    if (d == NULL && error == NULL)
        abort();
    for (size_t i = 0; d != NULL && i < N_ELEMENTS(keys); i++) {
        const char *v;
        if (dict_lookup(d, keys[i], &v) < 0)
            abort(); /* an in-memory table never has temporary errors */
    }
    dict_close(&d);
    free(error);
    return 0;
}

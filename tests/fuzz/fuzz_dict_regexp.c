/*
 * fuzz_dict_regexp.c - libFuzzer target for the regexp table parser, the
 * $N result checks and substitution.  Inputs are capped, and bounded
 * repetitions skipped, so that the fuzzer explores our parser rather
 * than regcomp's worst cases.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"

/* Bounded repetition ("a{99}{99}") makes glibc's regcomp build huge
 * automata: that is regcomp's cost, not our parser's, so skip it. */
static bool fuzz_has_bound(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '{' && data[i + 1] >= '0' && data[i + 1] <= '9' &&
            (i == 0 || data[i - 1] != '$'))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *keys[] = {"user@example.com", "a", "ABC-123", "x\ny"};
    static bool init;
    if (!init) {
        log_open("fuzz", "/dev/null");
        init = true;
    }
    if (size > 2048 || fuzz_has_bound(data, size))
        return 0;
    char *error = NULL;
    dict_t *d = dict_regexp_open_text("fuzz", (const char *)data, size, 0, &error);
    if (d == NULL && error == NULL)
        abort();
    for (size_t i = 0; d != NULL && i < N_ELEMENTS(keys); i++) {
        const char *v;
        (void)dict_lookup(d, keys[i], &v);
    }
    dict_close(&d);
    free(error);
    return 0;
}

/*
 * fuzz_passwd_file.c - libFuzzer target for the user database parser.
 *
 * The input is parsed as a whole file twice (plaintext allowed and not);
 * every entry must then be found again by its name, in any case, and
 * must obey the promises in passwd_file.h (non-empty name and scheme, uid
 * and gid -1 or positive, home empty or absolute).  The first line is
 * also checked with passwd_verify against a fixed password, which must
 * return -1, 0 or 1 and never crash.
 */
#include "sys.h"
#include "log.h"
#include "passwd_file.h"

#include <ctype.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_db(const struct passwd_db *db, const char *text, size_t len,
                     const struct passwd_opts *opts)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct passwd_entry e;
        char *err = NULL;
        int rc = passwd_line_parse(p, n, opts, &e, &err);
        if (rc == 1) {
            if (e.user[0] == '\0' || e.scheme[0] == '\0' || (e.uid != -1 && e.uid < 1) ||
                (e.gid != -1 && e.gid < 1) || (e.home[0] != '\0' && e.home[0] != '/'))
                abort();
            if (passwd_db_find(db, e.user) == NULL)
                abort();
            for (char *c = e.user; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            if (passwd_db_find(db, e.user) == NULL)
                abort();
            /* Cheap schemes only: hashing costs are not the point here. */
            if (strcmp(e.scheme, "PLAIN") == 0 || strcmp(e.scheme, "CLEARTEXT") == 0) {
                int v = passwd_verify(&e, "password", &err);
                if (v < -1 || v > 1)
                    abort();
            }
            passwd_entry_clear(&e);
        } else if (rc < 0 && err == NULL)
            abort();
        free(err);
        p += n + (nl != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_init("fuzz_passwd_file");
        log_open("tern", "/dev/null");
        init = true;
    }
    const char *text = (const char *)data;
    static const struct passwd_opts opts[] = {{.allow_plaintext = false},
                                              {.allow_plaintext = true}};
    for (size_t i = 0; i < N_ELEMENTS(opts); i++) {
        struct passwd_db *db = passwd_db_parse(text, size, "fuzz", &opts[i]);
        check_db(db, text, size, &opts[i]);
        passwd_db_free(&db);
    }
    return 0;
}

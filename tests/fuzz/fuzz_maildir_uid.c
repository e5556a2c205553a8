/*
 * fuzz_maildir_uid.c - libFuzzer target for the two UID list parsers in
 * lib/maildir_uid.c: tern-uidlist and Dovecot's dovecot-uidlist (both sit
 * in a Maildir its owner can write).  What parses must obey the list's
 * promises: UIDs ascending and below next_uid, every base name found
 * again, and tern's text form must parse back to the same text.
 */
#include "sys.h"
#include "log.h"
#include "maildir_uid.h"
#include "mem.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(maildir_uidlist_t *l)
{
    str_t *a = str_new(256), *b = str_new(256);
    maildir_uid_format(l, false, a);
    maildir_uidlist_t *again = maildir_uid_new(1);
    char *err = NULL;
    if (maildir_uid_parse(again, str_c(a), str_len(a), &err) < 0)
        msg_panic("formatted list does not parse: %s", err);
    maildir_uid_format(again, false, b);
    if (strcmp(str_c(a), str_c(b)) != 0)
        msg_panic("format/parse round trip differs");
    if (maildir_uid_count(l) > 0 && maildir_uid_next(l) <= 1)
        msg_panic("entries with next_uid %u", (unsigned)maildir_uid_next(l));
    /* A base already listed keeps its UID; a new one gets next_uid. */
    uint32_t next = maildir_uid_next(l);
    uint32_t old = maildir_uid_lookup(l, "fuzz-new-message");
    uint32_t got = maildir_uid_assign(l, "fuzz-new-message", NULL);
    if (old != 0 ? got != old : (got != 0 && got != next))
        msg_panic("assign gave UID %u (listed: %u, next: %u)", (unsigned)got, (unsigned)old,
                  (unsigned)next);
    maildir_uid_abort(&again);
    str_free(&a);
    str_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_init("fuzz_maildir_uid");
        log_open("tern", "/dev/null");
        init = true;
    }
    for (int dovecot = 0; dovecot < 2; dovecot++) {
        maildir_uidlist_t *l = maildir_uid_new(1);
        char *err = NULL;
        int rc = dovecot ? maildir_uid_parse_dovecot(l, (const char *)data, size, &err)
                         : maildir_uid_parse(l, (const char *)data, size, &err);
        if (rc == 0)
            check(l);
        free(err);
        maildir_uid_abort(&l);
    }
    return 0;
}

/*
 * test_resolve.c - unit tests for the recipient resolver (lib/resolve.c):
 * address classes, class transports and next hops, relayhost,
 * transport_maps search order (address, address without extension,
 * domain, parent domains, "*"), error:/discard:, recipient existence for
 * local (aliases, system users, postmaster, extensions) and virtual
 * recipients, table errors, the table cache across resolve_reset(), and
 * sender_dependent_relayhost_maps (sender, @domain, <>, DUNNO, not for
 * local mail, not over a transport's own next hop, under transport_maps).
 */
#include "sys.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <fcntl.h>
#include <sys/stat.h>

static char test_dir[] = "/tmp/test_resolve.XXXXXX";

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Load main.cf text (with $T replaced by the test directory). */
static void load(const char *text)
{
    str_t *s = str_new(256);
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '$' && p[1] == 'T') {
            str_appendz(s, test_dir);
            p++;
        } else {
            str_appendc(s, *p);
        }
    }
    resolve_reset();
    assert_int_equal(config_load_string(str_c(s), str_len(s), "test"), 0);
    str_free(&s);
}

static const char base_cf[] = "myhostname = mx.example.com\n"
                              "mydestination = $myhostname, localhost, example.com\n"
                              "virtual_mailbox_domains = virt.example, inline:{ virt2.example=1 }\n"
                              "relay_domains = relay.example\n"
                              "recipient_delimiter = +\n"
                              "alias_maps = texthash:$T/aliases\n"
                              "virtual_mailbox_maps = texthash:$T/vmailbox\n"
                              "virtual_alias_maps = inline:{ alias@virt.example=someone@x.org }\n"
                              "transport_maps = texthash:$T/transport\n";

struct route_case {
    const char *addr;
    enum resolve_class cls;
    const char *transport;
    const char *nexthop;
    const char *out_addr;
};

static void check_routes(const struct route_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct resolve_result r;
        char *error = NULL;
        if (resolve_addr(cases[i].addr, &r, &error) < 0)
            fail_msg("%s: %s", cases[i].addr, error);
        if (r.cls != cases[i].cls || strcmp(r.transport, cases[i].transport) != 0 ||
            strcmp(r.nexthop, cases[i].nexthop) != 0 || strcmp(r.addr, cases[i].out_addr) != 0)
            fail_msg("%s: got class %d %s:%s (%s), want %d %s:%s (%s)", cases[i].addr, r.cls,
                     r.transport, r.nexthop, r.addr, cases[i].cls, cases[i].transport,
                     cases[i].nexthop, cases[i].out_addr);
        resolve_result_clear(&r);
        assert_null(r.transport);
    }
}

static void test_classes(void **state)
{
    (void)state;
    load(base_cf);
    static const struct route_case cases[] = {
        {"user@mx.example.com", RESOLVE_LOCAL, "local", "mx.example.com", "user@mx.example.com"},
        {"User@EXAMPLE.COM", RESOLVE_LOCAL, "local", "mx.example.com", "User@example.com"},
        {"user", RESOLVE_LOCAL, "local", "mx.example.com", "user"},
        {"a@localhost", RESOLVE_LOCAL, "local", "mx.example.com", "a@localhost"},
        {"a@sub.example.com", RESOLVE_DEFAULT, "smtp", "sub.example.com", "a@sub.example.com"},
        {"a@virt.example", RESOLVE_VIRTUAL, "local", "virt.example", "a@virt.example"},
        {"a@virt2.example", RESOLVE_VIRTUAL, "local", "virt2.example", "a@virt2.example"},
        {"a@relay.example", RESOLVE_RELAY, "relay", "relay.example", "a@relay.example"},
        {"a@x.relay.example", RESOLVE_RELAY, "relay", "x.relay.example", "a@x.relay.example"},
        {"a@other.org", RESOLVE_DEFAULT, "smtp", "other.org", "a@other.org"},
        {"\"a@b\"@Other.ORG", RESOLVE_DEFAULT, "smtp", "other.org", "\"a@b\"@other.org"},
    };
    char *t = xasprintf("%s/transport", test_dir);
    write_file(t, "# empty\n");
    free(t);
    check_routes(cases, N_ELEMENTS(cases));
}

static void test_class_transports_relayhost(void **state)
{
    (void)state;
    load("myhostname = mx.example.com\n"
         "mydestination = example.com\n"
         "relay_domains = relay.example\n"
         "relayhost = [smart.example]:587\n"
         "local_transport = local\n"
         "relay_transport = smtp:[relay-hub]\n"
         "default_transport = smtp\n");
    static const struct route_case cases[] = {
        {"u@example.com", RESOLVE_LOCAL, "local", "example.com", "u@example.com"},
        {"u", RESOLVE_LOCAL, "local", "mx.example.com", "u"},
        {"u@relay.example", RESOLVE_RELAY, "smtp", "[relay-hub]", "u@relay.example"},
        {"u@far.example", RESOLVE_DEFAULT, "smtp", "[smart.example]:587", "u@far.example"},
    };
    check_routes(cases, N_ELEMENTS(cases));
}

static void test_transport_maps(void **state)
{
    (void)state;
    char *t = xasprintf("%s/transport", test_dir);
    write_file(t, "exact@other.org  smtp:[exact-hop]\n"
                  "plus@other.org   error:5.1.1 plus user is gone\n"
                  "other.org        smtp:[domain-hop]:2525\n"
                  ".sub.org         relay:\n"
                  "example.com      :[keep-transport]\n"
                  "trash.example    discard:\n"
                  "dead.example     error:mail for dead.example is not accepted\n");
    free(t);
    load(base_cf);
    static const struct route_case cases[] = {
        {"exact@other.org", RESOLVE_DEFAULT, "smtp", "[exact-hop]", "exact@other.org"},
        {"EXACT@Other.org", RESOLVE_DEFAULT, "smtp", "[exact-hop]", "EXACT@other.org"},
        {"plus+tag@other.org", RESOLVE_DEFAULT, "error", "5.1.1 plus user is gone",
         "plus+tag@other.org"},
        {"x@other.org", RESOLVE_DEFAULT, "smtp", "[domain-hop]:2525", "x@other.org"},
        {"x@a.other.org", RESOLVE_DEFAULT, "smtp", "a.other.org", "x@a.other.org"},
        {"x@a.sub.org", RESOLVE_DEFAULT, "relay", "a.sub.org", "x@a.sub.org"},
        {"x@a.b.sub.org", RESOLVE_DEFAULT, "relay", "a.b.sub.org", "x@a.b.sub.org"},
        {"x@sub.org", RESOLVE_DEFAULT, "smtp", "sub.org", "x@sub.org"},
        {"x@example.com", RESOLVE_LOCAL, "local", "[keep-transport]", "x@example.com"},
        {"x@trash.example", RESOLVE_DEFAULT, "discard", "", "x@trash.example"},
        {"x@dead.example", RESOLVE_DEFAULT, "error", "mail for dead.example is not accepted",
         "x@dead.example"},
    };
    check_routes(cases, N_ELEMENTS(cases));

    /* "*" is the last resort. */
    t = xasprintf("%s/transport", test_dir);
    write_file(t, "other.org smtp:[domain-hop]\n* smtp:[everything-else]\n");
    free(t);
    load(base_cf);
    static const struct route_case star[] = {
        {"x@other.org", RESOLVE_DEFAULT, "smtp", "[domain-hop]", "x@other.org"},
        {"x@else.org", RESOLVE_DEFAULT, "smtp", "[everything-else]", "x@else.org"},
        {"x@example.com", RESOLVE_LOCAL, "smtp", "[everything-else]", "x@example.com"},
    };
    check_routes(star, N_ELEMENTS(star));
}

struct known_case {
    const char *addr;
    int want;
};

static void check_known(const struct known_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *error = NULL;
        int rc = resolve_rcpt_known(cases[i].addr, &error);
        if (rc != cases[i].want)
            fail_msg("%s: got %d want %d (%s)", cases[i].addr, rc, cases[i].want,
                     error != NULL ? error : "");
        if (rc < 0)
            assert_non_null(error);
        free(error);
    }
}

static void write_tables(void)
{
    char *p = xasprintf("%s/aliases", test_dir);
    write_file(p, "info  root\nsales-team  a, b\n");
    free(p);
    p = xasprintf("%s/vmailbox", test_dir);
    write_file(p, "anna@virt.example  virt.example/anna/\n@virt2.example  catchall/\n");
    free(p);
    p = xasprintf("%s/transport", test_dir);
    write_file(p, "# none\n");
    free(p);
}

static void test_known(void **state)
{
    (void)state;
    write_tables();
    load(base_cf);
    static const struct known_case cases[] = {
        {"root@example.com", 1},     /* system user */
        {"ROOT@example.com", 1},     /* lower-cased for getpwnam */
        {"root+box@example.com", 1}, /* extension stripped */
        {"root", 1},                 /* no domain: local */
        {"info@example.com", 1},     /* alias */
        {"Info+x@localhost", 1},     /* alias after the extension */
        {"sales-team@example.com", 1},
        {"postmaster@example.com", 1},
        {"Postmaster", 1},
        {"no-such-user-xyz@example.com", 0},
        {"anna@virt.example", 1},
        {"anna+tag@virt.example", 1},
        {"ANNA@VIRT.example", 1},
        {"bob@virt.example", 0},
        {"postmaster@virt.example", 0}, /* virtual: only what the maps say */
        {"alias@virt.example", 1},      /* virtual_alias_maps */
        {"anyone@virt2.example", 1},    /* @domain catch-all */
        {"anyone@relay.example", 1},    /* relay: not checked here */
        {"anyone@far.example", 1},
    };
    check_known(cases, N_ELEMENTS(cases));
}

static void test_local_recipient_maps(void **state)
{
    (void)state;
    write_tables();
    load("mydestination = example.com\nlocal_recipient_maps =\n");
    static const struct known_case open_cases[] = {
        {"anything-at-all@example.com", 1},
    };
    check_known(open_cases, N_ELEMENTS(open_cases));
    load("mydestination = example.com\nlocal_recipient_maps = inline:{ only=1 }\n");
    static const struct known_case only_cases[] = {
        {"only@example.com", 1},
        {"root@example.com", 0},
        {"postmaster@example.com", 1},
    };
    check_known(only_cases, N_ELEMENTS(only_cases));
}

static void test_table_errors(void **state)
{
    (void)state;
    write_tables();
    load("mydestination = example.com\nalias_maps = texthash:$T/missing-aliases\n"
         "virtual_mailbox_domains = virt.example\n"
         "virtual_mailbox_maps = texthash:$T/missing-vmailbox\n");
    static const struct known_case cases[] = {
        {"root@example.com", 1},        /* the password file answers first */
        {"nobody-xyz@example.com", -1}, /* then the alias table is needed */
        {"postmaster@example.com", 1},  {"anna@virt.example", -1}, {"anyone@elsewhere.example", 1},
    };
    check_known(cases, N_ELEMENTS(cases));

    /* A table that appears later is picked up (failures are not cached). */
    char *p = xasprintf("%s/missing-aliases", test_dir);
    write_file(p, "nobody-xyz root\n");
    free(p);
    static const struct known_case later[] = {{"nobody-xyz@example.com", 1}};
    check_known(later, N_ELEMENTS(later));

    /* transport_maps errors make resolve_addr fail with a reason. */
    load("transport_maps = texthash:$T/no-transport\n");
    struct resolve_result r;
    char *error = NULL;
    assert_int_equal(resolve_addr("a@b.example", &r, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "no-transport"));
    assert_null(r.transport);
    free(error);
    /* error_r may be NULL. */
    assert_int_equal(resolve_addr("a@b.example", &r, NULL), -1);
    assert_int_equal(resolve_rcpt_known("a@b.example", NULL), -1);
}

struct sender_case {
    const char *sender; /* NULL: resolve_addr, no sender lookup */
    const char *rcpt;
    const char *transport;
    const char *nexthop;
};

static void test_sender_relayhost(void **state)
{
    (void)state;
    char *t = xasprintf("%s/sdr", test_dir);
    write_file(t, "boss@corp.example     [boss-relay]:2525\n"
                  "@corp.example         [corp-relay]\n"
                  "nobody@corp.example   DUNNO\n"
                  "<>                    [bounce-relay]\n"
                  "@UPPER.example        [upper-relay]\n");
    free(t);
    t = xasprintf("%s/transport", test_dir);
    write_file(t, "pinned.example  smtp:[pinned-hop]\nbare.example  relay:\n");
    free(t);
    load("myhostname = mx.example.com\n"
         "mydestination = example.com\n"
         "relay_domains = relay.example\n"
         "relayhost = [smart.example]\n"
         "sender_dependent_relayhost_maps = texthash:$T/sdr\n"
         "transport_maps = texthash:$T/transport\n");
    static const struct sender_case cases[] = {
        {"boss@corp.example", "u@far.example", "smtp", "[boss-relay]:2525"},
        {"boss@CORP.example", "u@far.example", "smtp", "[boss-relay]:2525"},
        {"other@corp.example", "u@far.example", "smtp", "[corp-relay]"},
        {"other@corp.example", "u@relay.example", "relay", "[corp-relay]"},
        {"nobody@corp.example", "u@far.example", "smtp", "[smart.example]"}, /* DUNNO */
        {"x@elsewhere.example", "u@far.example", "smtp", "[smart.example]"},
        {"", "u@far.example", "smtp", "[bounce-relay]"},
        {"x@upper.example", "u@far.example", "smtp", "[upper-relay]"}, /* keys fold case */
        {NULL, "u@far.example", "smtp", "[smart.example]"},
        /* Not for local mail; transport_maps' next hop still wins. */
        {"boss@corp.example", "u@example.com", "local", "mx.example.com"},
        {"boss@corp.example", "u@pinned.example", "smtp", "[pinned-hop]"},
        {"boss@corp.example", "u@bare.example", "relay", "[boss-relay]:2525"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct resolve_result r;
        char *error = NULL;
        if (resolve_addr_sender(cases[i].rcpt, cases[i].sender, &r, &error) < 0)
            fail_msg("%s: %s", cases[i].rcpt, error);
        if (strcmp(r.transport, cases[i].transport) != 0 ||
            strcmp(r.nexthop, cases[i].nexthop) != 0)
            fail_msg("<%s> -> %s: got %s:%s, want %s:%s",
                     cases[i].sender ? cases[i].sender : "(none)", cases[i].rcpt, r.transport,
                     r.nexthop, cases[i].transport, cases[i].nexthop);
        resolve_result_clear(&r);
    }

    /* A transport with a next hop of its own is not overridden. */
    load("mydestination = example.com\n"
         "default_transport = smtp:[fixed-hop]\n"
         "sender_dependent_relayhost_maps = texthash:$T/sdr\n");
    struct resolve_result r;
    char *error = NULL;
    assert_int_equal(resolve_addr_sender("u@far.example", "boss@corp.example", &r, &error), 0);
    assert_string_equal(r.nexthop, "[fixed-hop]");
    resolve_result_clear(&r);

    /* The null sender's key is a parameter; a table error is temporary. */
    load("mydestination = example.com\n"
         "empty_address_relayhost_maps_lookup_key = null-sender\n"
         "sender_dependent_relayhost_maps = inline:{ null-sender=[ns-relay] }\n");
    assert_int_equal(resolve_addr_sender("u@far.example", "", &r, &error), 0);
    assert_string_equal(r.nexthop, "[ns-relay]");
    resolve_result_clear(&r);
    load("mydestination = example.com\n"
         "sender_dependent_relayhost_maps = texthash:$T/no-such-table\n");
    assert_int_equal(resolve_addr_sender("u@far.example", "a@b.example", &r, &error), -1);
    assert_non_null(error);
    free(error);
    /* ... but only when the table is consulted. */
    assert_int_equal(resolve_addr_sender("u@example.com", "a@b.example", &r, NULL), 0);
    resolve_result_clear(&r);
}

static void test_cache_reset(void **state)
{
    (void)state;
    write_tables();
    load(base_cf);
    static const struct known_case before[] = {{"anna@virt.example", 1}};
    check_known(before, N_ELEMENTS(before));
    /* texthash is read at open: a change shows only after a reset. */
    char *p = xasprintf("%s/vmailbox", test_dir);
    write_file(p, "bert@virt.example  b/\n");
    free(p);
    check_known(before, N_ELEMENTS(before));
    resolve_reset();
    static const struct known_case after[] = {{"anna@virt.example", 0}, {"bert@virt.example", 1}};
    check_known(after, N_ELEMENTS(after));
    resolve_reset();
    resolve_reset(); /* twice is fine */
}

static int cleanup_dir(void **state)
{
    (void)state;
    resolve_reset();
    return unit_rm_rf(test_dir);
}

int main(void)
{
    log_init("test_resolve");
    log_open("tern", "/dev/null");
    if (mkdtemp(test_dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_class_transports_relayhost),
        cmocka_unit_test(test_transport_maps),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_local_recipient_maps),
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_cache_reset),
        cmocka_unit_test(test_sender_relayhost),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup_dir);
}

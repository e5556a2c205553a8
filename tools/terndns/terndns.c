/*
 * terndns - ask tern's resolver a question and print what it sees: the
 * result class (OK, NOTFOUND, NULLMX, TEMPFAIL, INVALID), the flags (AD,
 * NXDOMAIN, cached, CNAME followed) and the records, exactly as the smtp
 * client and the policy checks get them.  For admins debugging routing
 * and for the tests, which point it at their own DNS server with -c or
 * -o dns_nameservers=...
 */
#include "config.h"
#include "dns.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <getopt.h>
#include <sys/socket.h>
#include <sys/stat.h>

struct terndns_opts {
    const char *config_dir;
    unsigned repeat;
};

static TERN_NORETURN void usage(void)
{
    fprintf(stderr, "usage: terndns [-c config_dir] [-o name=value]... [-r count] [-v]\n"
                    "               mx|a|aaaa|addr|txt|ptr|tlsa|raw:TYPE name\n");
    exit(1);
}

static void load_config(const char *dir)
{
    struct stat st;

    if (dir == NULL)
        dir = getenv("MAIL_CONFIG");
    if (dir == NULL && stat(TERN_SYSCONFDIR "/main.cf", &st) == 0)
        dir = TERN_SYSCONFDIR;
    if (dir != NULL && config_load(dir) < 0)
        msg_fatal("cannot load the configuration from %s", dir);
}

static void print_result(enum dns_status st, unsigned flags, const char *error)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{DNS_F_AD, "ad"},
                 {DNS_F_NXDOMAIN, "nxdomain"},
                 {DNS_F_CACHED, "cached"},
                 {DNS_F_CNAME, "cname"},
                 {DNS_F_PARTIAL, "partial"}};
    str_t *line = str_new(128);
    const char *sep = "";

    str_appendf(line, "result=%s flags=", dns_status_name(st));
    for (size_t i = 0; i < N_ELEMENTS(names); i++)
        if (flags & names[i].bit) {
            str_appendf(line, "%s%s", sep, names[i].name);
            sep = ",";
        }
    if (*sep == '\0')
        str_appendz(line, "-");
    if (error != NULL) {
        str_appendz(line, " error=");
        str_append_printable(line, error, strlen(error), 500);
    }
    printf("%s\n", str_c(line));
    str_free(&line);
}

static enum dns_status do_mx(const char *name, unsigned *flags, char **error)
{
    struct dns_mx *mx;
    size_t n;
    enum dns_status st = dns_lookup_mx(name, &mx, &n, flags, error);

    print_result(st, *flags, *error);
    for (size_t i = 0; i < n; i++)
        printf("mx %u %s ttl=%u\n", mx[i].pref, mx[i].host, (unsigned)mx[i].ttl);
    dns_mx_free(&mx, n);
    return st;
}

static enum dns_status do_addr(const char *name, unsigned families, unsigned *flags, char **error)
{
    struct dns_addr *a;
    size_t n;
    enum dns_status st = dns_lookup_addr(name, families, &a, &n, flags, error);

    print_result(st, *flags, *error);
    for (size_t i = 0; i < n; i++)
        printf("%s %s ttl=%u\n", a[i].family == AF_INET ? "a" : "aaaa", a[i].text,
               (unsigned)a[i].ttl);
    dns_addr_free(&a, n);
    return st;
}

static enum dns_status do_txt(const char *name, unsigned *flags, char **error)
{
    struct dns_txt *t;
    size_t n;
    enum dns_status st = dns_lookup_txt(name, &t, &n, flags, error);

    print_result(st, *flags, *error);
    for (size_t i = 0; i < n; i++) {
        str_t *s = str_new(t[i].len + 1);
        str_append_printable(s, t[i].text, t[i].len, 65536);
        printf("txt \"%s\" ttl=%u\n", str_c(s), (unsigned)t[i].ttl);
        str_free(&s);
    }
    dns_txt_free(&t, n);
    return st;
}

static enum dns_status do_ptr(const char *addr, unsigned *flags, char **error)
{
    struct dns_name *p;
    size_t n;
    enum dns_status st = dns_lookup_ptr(addr, &p, &n, flags, error);

    print_result(st, *flags, *error);
    for (size_t i = 0; i < n; i++)
        printf("ptr %s ttl=%u\n", p[i].name, (unsigned)p[i].ttl);
    dns_name_free(&p, n);
    return st;
}

/* "host" or "host:port" (port 25 by default), TCP. */
static enum dns_status do_tlsa(const char *spec, unsigned *flags, char **error)
{
    char *host = xstrdup(spec);
    char *colon = strrchr(host, ':');
    unsigned port = 25;
    struct dns_tlsa *t;
    size_t n;

    if (colon != NULL) {
        *colon = '\0';
        port = (unsigned)strtoul(colon + 1, NULL, 10);
    }
    enum dns_status st = dns_lookup_tlsa(port, "tcp", host, &t, &n, flags, error);
    print_result(st, *flags, *error);
    for (size_t i = 0; i < n; i++) {
        printf("tlsa %u %u %u ", t[i].usage, t[i].selector, t[i].mtype);
        for (size_t j = 0; j < t[i].len; j++)
            printf("%02x", t[i].data[j]);
        printf(" ttl=%u\n", (unsigned)t[i].ttl);
    }
    dns_tlsa_free(&t, n);
    free(host);
    return st;
}

static enum dns_status do_raw(const char *type, const char *name, unsigned *flags, char **error)
{
    unsigned char *wire;
    size_t len;
    unsigned long t = strtoul(type, NULL, 10);

    if (t == 0 || t > 65535)
        usage();
    enum dns_status st = dns_query_raw(name, (uint16_t)t, &wire, &len, flags, error);
    print_result(st, *flags, *error);
    if (wire != NULL)
        printf("raw len=%zu rcode=%u ancount=%u\n", len, len >= 4 ? wire[3] & 0x0fu : 0,
               len >= 8 ? (unsigned)(wire[6] << 8 | wire[7]) : 0);
    free(wire);
    return st;
}

static enum dns_status run(const char *type, const char *name)
{
    unsigned flags = 0;
    char *error = NULL;
    enum dns_status st;

    if (strcmp(type, "mx") == 0)
        st = do_mx(name, &flags, &error);
    else if (strcmp(type, "a") == 0)
        st = do_addr(name, DNS_INET4, &flags, &error);
    else if (strcmp(type, "aaaa") == 0)
        st = do_addr(name, DNS_INET6, &flags, &error);
    else if (strcmp(type, "addr") == 0)
        st = do_addr(name, dns_inet_protocols(), &flags, &error);
    else if (strcmp(type, "txt") == 0)
        st = do_txt(name, &flags, &error);
    else if (strcmp(type, "ptr") == 0)
        st = do_ptr(name, &flags, &error);
    else if (strcmp(type, "tlsa") == 0)
        st = do_tlsa(name, &flags, &error);
    else if (strncmp(type, "raw:", 4) == 0)
        st = do_raw(type + 4, name, &flags, &error);
    else
        usage();
    free(error);
    return st;
}

int main(int argc, char **argv)
{
    struct terndns_opts o = {.repeat = 1};
    char **overrides = xcalloc((size_t)argc, sizeof(*overrides));
    size_t n_over = 0;
    int c;

    log_init("terndns");
    if (log_open("tern", "/dev/null") < 0)
        log_open("tern", "/dev/stderr");
    else
        log_also_stderr(true);
    while ((c = getopt(argc, argv, "c:o:r:v")) != -1) {
        switch (c) {
        case 'c':
            o.config_dir = optarg;
            break;
        case 'o':
            overrides[n_over++] = optarg;
            break;
        case 'r':
            o.repeat = (unsigned)strtoul(optarg, NULL, 10);
            if (o.repeat == 0 || o.repeat > 1000)
                usage();
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2)
        usage();
    load_config(o.config_dir);
    for (size_t i = 0; i < n_over; i++)
        if (config_override(overrides[i]) < 0)
            exit(1);
    free(overrides);
    char *err = NULL;
    if (dns_configure_from_params(&err) < 0)
        msg_fatal("%s", err);
    enum dns_status st = DNS_OK;
    for (unsigned i = 0; i < o.repeat; i++)
        st = run(argv[optind], argv[optind + 1]);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %s", strerror(errno));
    static const int codes[] = {
        [DNS_OK] = 0, [DNS_NOTFOUND] = 2, [DNS_NULLMX] = 3, [DNS_TEMPFAIL] = 4, [DNS_INVALID] = 5};
    return codes[st];
}

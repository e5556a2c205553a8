/*
 * smtpd_check.c - Postfix-style restriction lists for the SMTP server:
 * smtpd_client_restrictions, smtpd_helo_restrictions,
 * smtpd_sender_restrictions, smtpd_relay_restrictions and
 * smtpd_recipient_restrictions, evaluated at RCPT time with
 * smtpd_delay_reject = yes (else each at its own command), followed by
 * the implicit unknown-recipient check (smtpd_reject_unlisted_recipient).
 *
 * In a list, the first restriction that permits ends that list (the next
 * list is still evaluated); the first that rejects or defers ends the
 * whole check with its reply.  Relay control uses lib/resolve.h: only
 * local, virtual and relay domains are ours, and an address with
 * sender-specified routing (%, !, a quoted '@', a source route) is never
 * ours unless allow_untrusted_routing is set.
 *
 * SMTP AUTH: permit_sasl_authenticated matches a session that logged in;
 * reject_sender_login_mismatch (and its authenticated/unauthenticated
 * halves) compares the envelope sender with smtpd_sender_login_maps.
 */
#include "smtpd.h"

#include <strings.h>

#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "smtp_access.h"

#define SMTPD_CHECK_DEPTH 3 /* access results naming restrictions, nested */

enum smtpd_verdict { V_DUNNO, V_PERMIT, V_REJECT };

struct smtpd_ctx {
    struct smtpd_session *s;
    const struct addr_path *rcpt; /* NULL before RCPT */
    const char *stage_subject;    /* "Client host", "Sender address", ... */
    const char *stage_target;     /* what the generic reject names */
    int depth;
    char *reply; /* set with V_REJECT */
};

static dict_t **smtpd_tables;
static char **smtpd_table_specs;
static size_t smtpd_ntables;

void smtpd_check_init(void)
{
    resolve_reset();
}

static dict_t *smtpd_table(const char *spec)
{
    for (size_t i = 0; i < smtpd_ntables; i++)
        if (strcmp(smtpd_table_specs[i], spec) == 0)
            return smtpd_tables[i];
    char *err = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &err);
    if (d == NULL) {
        msg_warn("access table %s: %s", spec, err);
        free(err);
        return NULL;
    }
    smtpd_tables = xreallocarray(smtpd_tables, smtpd_ntables + 1, sizeof(*smtpd_tables));
    smtpd_table_specs =
        xreallocarray(smtpd_table_specs, smtpd_ntables + 1, sizeof(*smtpd_table_specs));
    smtpd_tables[smtpd_ntables] = d;
    smtpd_table_specs[smtpd_ntables++] = xstrdup(spec);
    return d;
}

static enum smtpd_verdict smtpd_reject(struct smtpd_ctx *c, int code, const char *dsn,
                                       const char *target, const char *subject, const char *text)
{
    str_t *r = str_new(128);
    (void)str_appendf(r, "%d %s <", code, dsn);
    str_append_printable(r, target, strlen(target), 300);
    (void)str_appendz(r, ">: ");
    if (subject != NULL)
        (void)str_appendf(r, "%s rejected: ", subject);
    (void)str_appendz(r, text);
    free(c->reply);
    c->reply = str_steal(&r);
    return V_REJECT;
}

static enum smtpd_verdict smtpd_config_error(struct smtpd_ctx *c, const char *what)
{
    msg_warn("restriction configuration error: %s", what);
    free(c->reply);
    c->reply = xstrdup("451 4.3.5 Server configuration error");
    return V_REJECT;
}

static enum smtpd_verdict smtpd_temp_error(struct smtpd_ctx *c, const char *target)
{
    return smtpd_reject(c, 451, "4.3.0", target, NULL, "Temporary lookup failure");
}

static enum smtpd_verdict smtpd_list(struct smtpd_ctx *c, char **list);

/* ---- access tables ------------------------------------------------------- */

/* Act on one found table value. */
static enum smtpd_verdict smtpd_access_value(struct smtpd_ctx *c, const char *value,
                                             const char *target, const char *subject)
{
    struct smtp_access_result r;
    const char *err;
    if (smtp_access_parse(value, &r, &err) < 0)
        return smtpd_config_error(c, err);
    switch (r.action) {
    case SMTP_ACCESS_PERMIT:
        return V_PERMIT;
    case SMTP_ACCESS_REJECT:
        return smtpd_reject(c, r.code, r.dsn, target, subject, r.text);
    case SMTP_ACCESS_RESTRICTIONS: {
        if (c->depth >= SMTPD_CHECK_DEPTH)
            return smtpd_config_error(c, "access table results nested too deep");
        char **names = config_list_split(r.text);
        c->depth++;
        enum smtpd_verdict v = smtpd_list(c, names);
        c->depth--;
        cfg_list_free(&names);
        return v;
    }
    default:
        return V_DUNNO;
    }
}

/*
 * Look up keys (NULL-terminated) in order; the first found decides.
 * Returns V_DUNNO when nothing was found (or DUNNO was).
 */
static enum smtpd_verdict smtpd_access(struct smtpd_ctx *c, const char *spec,
                                       const char *const *keys, const char *target,
                                       const char *subject)
{
    dict_t *d = smtpd_table(spec);
    if (d == NULL)
        return smtpd_temp_error(c, target);
    for (; *keys != NULL; keys++) {
        const char *value;
        int rc = dict_lookup(d, *keys, &value);
        if (rc < 0)
            return smtpd_temp_error(c, target);
        if (rc > 0) {
            char *v = xstrdup(value);
            enum smtpd_verdict verdict = smtpd_access_value(c, v, target, subject);
            free(v);
            return verdict;
        }
    }
    return V_DUNNO;
}

/* Keys for a domain: itself, then each parent domain. */
static size_t smtpd_domain_keys(const char *domain, const char **keys, size_t max)
{
    size_t n = 0;
    for (const char *d = domain; d != NULL && *d != '\0' && n < max; n++) {
        keys[n] = d;
        d = strchr(d, '.');
        if (d != NULL)
            d++;
    }
    return n;
}

#define SMTPD_MAX_KEYS 40

static enum smtpd_verdict smtpd_check_client_access(struct smtpd_ctx *c, const char *spec)
{
    struct smtpd_session *s = c->s;
    const char *keys[SMTPD_MAX_KEYS];
    char prefixes[3][INET6_ADDRSTRLEN];
    size_t n = 0;
    if (strcmp(s->name, "unknown") != 0)
        n += smtpd_domain_keys(s->name, keys, SMTPD_MAX_KEYS - 5);
    keys[n++] = s->addr;
    if (strchr(s->addr, ':') == NULL) { /* 192.0.2 192.0 192 */
        for (int i = 0; i < 3; i++) {
            str_lcpy(prefixes[i], i == 0 ? s->addr : prefixes[i - 1], sizeof(prefixes[i]));
            char *dot = strrchr(prefixes[i], '.');
            if (dot == NULL)
                break;
            *dot = '\0';
            keys[n++] = prefixes[i];
        }
    }
    keys[n] = NULL;
    return smtpd_access(c, spec, keys, s->namaddr, "Client host");
}

static enum smtpd_verdict smtpd_check_helo_access(struct smtpd_ctx *c, const char *spec)
{
    const char *keys[SMTPD_MAX_KEYS];
    if (c->s->helo == NULL)
        return V_DUNNO;
    size_t n = smtpd_domain_keys(c->s->helo, keys, SMTPD_MAX_KEYS - 1);
    keys[n] = NULL;
    return smtpd_access(c, spec, keys, c->s->helo, "Helo command");
}

/* Address keys: the address, its domain and parents, then "local@". */
static enum smtpd_verdict smtpd_check_addr_access(struct smtpd_ctx *c, const char *spec,
                                                  const struct addr_path *p, const char *subject)
{
    const char *keys[SMTPD_MAX_KEYS];
    size_t n = 0;
    if (p->null_sender) {
        keys[n++] = cfg_str("smtpd_null_access_lookup_key");
        keys[n] = NULL;
        return smtpd_access(c, spec, keys, "", subject);
    }
    char *local, *domain;
    addr_split(p->addr, &local, &domain);
    char *localat = xasprintf("%s@", local);
    keys[n++] = p->addr;
    n += smtpd_domain_keys(domain, keys + n, SMTPD_MAX_KEYS - 3);
    keys[n++] = localat;
    keys[n] = NULL;
    enum smtpd_verdict v = smtpd_access(c, spec, keys, p->addr, subject);
    free(local);
    free(domain);
    free(localat);
    return v;
}

/* ---- relay control and recipient existence ------------------------------- */

/* 1: one of our domains (and no untrusted routing), 0: not, -1: lookup error. */
static int smtpd_auth_destination(struct smtpd_ctx *c)
{
    struct resolve_result r = {0};
    char *err = NULL;
    if (resolve_addr(c->rcpt->addr, &r, &err) < 0) {
        msg_warn("resolve %s: %s", c->rcpt->addr, err != NULL ? err : "error");
        free(err);
        return -1;
    }
    bool ours = r.cls != RESOLVE_DEFAULT;
    resolve_result_clear(&r);
    if (ours && !c->s->cfg->allow_untrusted_routing && addr_path_routing(c->rcpt) != 0)
        ours = false;
    return ours;
}

static enum smtpd_verdict smtpd_unauth_destination(struct smtpd_ctx *c, bool defer, bool permit)
{
    if (c->rcpt == NULL)
        return V_DUNNO;
    int ours = smtpd_auth_destination(c);
    if (ours < 0)
        return smtpd_temp_error(c, c->rcpt->addr);
    if (permit)
        return ours ? V_PERMIT : V_DUNNO;
    if (ours)
        return V_DUNNO;
    return smtpd_reject(c, defer ? 454 : 554, defer ? "4.7.1" : "5.7.1", c->rcpt->addr, NULL,
                        "Relay access denied");
}

static enum smtpd_verdict smtpd_unlisted_recipient(struct smtpd_ctx *c)
{
    if (c->rcpt == NULL)
        return V_DUNNO;
    struct resolve_result r = {0};
    char *err = NULL;
    if (resolve_addr(c->rcpt->addr, &r, &err) < 0) {
        free(err);
        return smtpd_temp_error(c, c->rcpt->addr);
    }
    enum resolve_class cls = r.cls;
    resolve_result_clear(&r);
    if (cls != RESOLVE_LOCAL && cls != RESOLVE_VIRTUAL)
        return V_DUNNO;
    int known = resolve_rcpt_known(c->rcpt->addr, &err);
    if (known < 0) {
        msg_warn("recipient lookup %s: %s", c->rcpt->addr, err != NULL ? err : "error");
        free(err);
        return smtpd_temp_error(c, c->rcpt->addr);
    }
    free(err);
    if (known)
        return V_DUNNO;
    return smtpd_reject(c, 550, "5.1.1", c->rcpt->addr, "Recipient address",
                        cls == RESOLVE_LOCAL ? "User unknown in local recipient table"
                                             : "User unknown in virtual mailbox table");
}

/* ---- sender login maps (SMTP AUTH) --------------------------------------- */

/*
 * The owners of sender (smtpd_sender_login_maps: the address, then
 * @domain; the first table that knows either decides).  1 found (*owners_r
 * malloc'ed), 0 not found, -1 lookup error.
 */
static int smtpd_sender_owners(const char *sender, char **owners_r)
{
    char **maps = cfg_list("smtpd_sender_login_maps");
    const char *at = strrchr(sender, '@');
    int rc = 0;
    for (size_t i = 0; maps[i] != NULL && rc == 0; i++) {
        dict_t *d = smtpd_table(maps[i]);
        const char *value;
        if (d == NULL)
            rc = -1;
        else if ((rc = dict_lookup(d, sender, &value)) == 0 && at != NULL && at[1] != '\0')
            rc = dict_lookup(d, at, &value);
        if (rc > 0)
            *owners_r = xstrdup(value);
    }
    cfg_list_free(&maps);
    return rc < 0 ? -1 : rc;
}

/* Whether login is one of the names in owners (commas or spaces between). */
static bool smtpd_login_listed(const char *owners, const char *login)
{
    size_t n = strlen(login);
    for (const char *p = owners; *p != '\0';) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == n && strncasecmp(p, login, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/*
 * reject_sender_login_mismatch and its halves: an authenticated client
 * may only use senders that the maps give to its login name; a client
 * that did not log in may not use a sender that belongs to someone.
 */
static enum smtpd_verdict smtpd_login_mismatch(struct smtpd_ctx *c, bool authenticated,
                                               bool unauthenticated)
{
    struct smtpd_session *s = c->s;
    if (!s->mail_given || s->sender.null_sender)
        return V_DUNNO;
    const char *login = s->sasl_username;
    if ((login != NULL && !authenticated) || (login == NULL && !unauthenticated))
        return V_DUNNO;
    char *owners = NULL;
    int rc = smtpd_sender_owners(s->sender.addr, &owners);
    if (rc < 0)
        return smtpd_temp_error(c, s->sender.addr);
    enum smtpd_verdict v = V_DUNNO;
    if (login != NULL && (rc == 0 || !smtpd_login_listed(owners, login))) {
        char *text = xasprintf("not owned by user %s", login);
        v = smtpd_reject(c, 553, "5.7.1", s->sender.addr, "Sender address", text);
        free(text);
    } else if (login == NULL && rc > 0)
        v = smtpd_reject(c, 553, "5.7.1", s->sender.addr, "Sender address", "not logged in");
    free(owners);
    return v;
}

/* ---- syntax checks ------------------------------------------------------- */

static enum smtpd_verdict smtpd_non_fqdn(struct smtpd_ctx *c, const struct addr_path *p,
                                         const char *subject)
{
    if (p == NULL || p->null_sender || (p->domain[0] != '\0' && addr_is_fqdn(p->domain)))
        return V_DUNNO;
    return smtpd_reject(c, 504, "5.5.2", p->addr, subject, "need fully-qualified address");
}

static enum smtpd_verdict smtpd_helo_check(struct smtpd_ctx *c, bool fqdn)
{
    const char *h = c->s->helo;
    if (h == NULL)
        return V_DUNNO;
    if (addr_domain_valid(h, strlen(h), 0, NULL) < 0)
        return smtpd_reject(c, 501, "5.5.2", h, "Helo command", "Invalid name");
    if (fqdn && !addr_is_fqdn(h))
        return smtpd_reject(c, 504, "5.5.2", h, "Helo command", "need fully-qualified hostname");
    return V_DUNNO;
}

/* ---- the list walker ----------------------------------------------------- */

static const struct addr_path *smtpd_sender(struct smtpd_ctx *c)
{
    return c->s->mail_given ? &c->s->sender : NULL;
}

/* Restrictions that take a table argument. */
static enum smtpd_verdict smtpd_table_restriction(struct smtpd_ctx *c, const char *name,
                                                  const char *spec)
{
    if (strcasecmp(name, "check_client_access") == 0)
        return smtpd_check_client_access(c, spec);
    if (strcasecmp(name, "check_helo_access") == 0)
        return smtpd_check_helo_access(c, spec);
    if (strcasecmp(name, "check_sender_access") == 0)
        return smtpd_sender(c) ? smtpd_check_addr_access(c, spec, smtpd_sender(c), "Sender address")
                               : V_DUNNO;
    return c->rcpt ? smtpd_check_addr_access(c, spec, c->rcpt, "Recipient address") : V_DUNNO;
}

static bool smtpd_is_table_restriction(const char *name)
{
    return strcasecmp(name, "check_client_access") == 0 ||
           strcasecmp(name, "check_helo_access") == 0 ||
           strcasecmp(name, "check_sender_access") == 0 ||
           strcasecmp(name, "check_recipient_access") == 0;
}

static bool smtpd_needs_dns(const char *name)
{
    static const char *const dns[] = {
        "reject_unknown_recipient_domain",
        "reject_unknown_sender_domain",
        "reject_unknown_client_hostname",
        "reject_unknown_reverse_client_hostname",
        "reject_unknown_helo_hostname",
        "reject_rbl_client",
        "reject_rhsbl_sender",
        "permit_mx_backup",
    };
    for (size_t i = 0; i < N_ELEMENTS(dns); i++)
        if (strcasecmp(name, dns[i]) == 0)
            return true;
    return false;
}

static enum smtpd_verdict smtpd_restriction(struct smtpd_ctx *c, const char *name)
{
    struct smtpd_session *s = c->s;
    if (strcasecmp(name, "permit") == 0)
        return V_PERMIT;
    if (strcasecmp(name, "reject") == 0)
        return smtpd_reject(c, 554, "5.7.1", c->stage_target, c->stage_subject, "Access denied");
    if (strcasecmp(name, "defer") == 0)
        return smtpd_reject(c, 450, "4.7.1", c->stage_target, c->stage_subject, "Access denied");
    if (strcasecmp(name, "permit_mynetworks") == 0)
        return s->in_mynetworks ? V_PERMIT : V_DUNNO;
    if (strcasecmp(name, "permit_sasl_authenticated") == 0)
        return s->sasl_username != NULL ? V_PERMIT : V_DUNNO;
    if (strcasecmp(name, "reject_sender_login_mismatch") == 0)
        return smtpd_login_mismatch(c, true, true);
    if (strcasecmp(name, "reject_authenticated_sender_login_mismatch") == 0)
        return smtpd_login_mismatch(c, true, false);
    if (strcasecmp(name, "reject_unauthenticated_sender_login_mismatch") == 0)
        return smtpd_login_mismatch(c, false, true);
    if (strcasecmp(name, "reject_unauth_destination") == 0)
        return smtpd_unauth_destination(c, false, false);
    if (strcasecmp(name, "defer_unauth_destination") == 0)
        return smtpd_unauth_destination(c, true, false);
    if (strcasecmp(name, "permit_auth_destination") == 0)
        return smtpd_unauth_destination(c, false, true);
    if (strcasecmp(name, "reject_unlisted_recipient") == 0)
        return smtpd_unlisted_recipient(c);
    if (strcasecmp(name, "reject_non_fqdn_sender") == 0)
        return smtpd_non_fqdn(c, smtpd_sender(c), "Sender address");
    if (strcasecmp(name, "reject_non_fqdn_recipient") == 0)
        return smtpd_non_fqdn(c, c->rcpt, "Recipient address");
    if (strcasecmp(name, "reject_invalid_helo_hostname") == 0 ||
        strcasecmp(name, "reject_invalid_hostname") == 0)
        return smtpd_helo_check(c, false);
    if (strcasecmp(name, "reject_non_fqdn_helo_hostname") == 0 ||
        strcasecmp(name, "reject_non_fqdn_hostname") == 0)
        return smtpd_helo_check(c, true);
    if (smtpd_needs_dns(name)) {
        static bool warned;
        if (!warned)
            msg_warn("%s needs DNS, which this smtpd does not do yet: ignored", name);
        warned = true;
        return V_DUNNO;
    }
    return smtpd_config_error(c, name);
}

static enum smtpd_verdict smtpd_list(struct smtpd_ctx *c, char **list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        enum smtpd_verdict v;
        if (smtpd_is_table_restriction(list[i])) {
            if (list[i + 1] == NULL || strchr(list[i + 1], ':') == NULL)
                return smtpd_config_error(c, "check_*_access needs a type:table argument");
            v = smtpd_table_restriction(c, list[i], list[i + 1]);
            i++;
        } else
            v = smtpd_restriction(c, list[i]);
        if (v != V_DUNNO)
            return v;
    }
    return V_DUNNO;
}

/* Evaluate one list parameter; the reply on reject, else NULL. */
static char *smtpd_param_list(struct smtpd_ctx *c, const char *param, const char *subject,
                              const char *target)
{
    char **list = cfg_list(param);
    c->stage_subject = subject;
    c->stage_target = target;
    enum smtpd_verdict v = smtpd_list(c, list);
    cfg_list_free(&list);
    if (v == V_REJECT)
        return c->reply;
    return NULL;
}

char *smtpd_check_client(struct smtpd_session *s)
{
    struct smtpd_ctx c = {.s = s};
    return smtpd_param_list(&c, "smtpd_client_restrictions", "Client host", s->namaddr);
}

char *smtpd_check_helo(struct smtpd_session *s)
{
    struct smtpd_ctx c = {.s = s};
    return smtpd_param_list(&c, "smtpd_helo_restrictions", "Helo command", s->helo ? s->helo : "");
}

char *smtpd_check_sender(struct smtpd_session *s)
{
    struct smtpd_ctx c = {.s = s};
    return smtpd_param_list(&c, "smtpd_sender_restrictions", "Sender address", s->sender.addr);
}

char *smtpd_check_rcpt(struct smtpd_session *s, const struct addr_path *rcpt)
{
    struct smtpd_ctx c = {.s = s, .rcpt = rcpt};
    char *r = NULL;
    if (s->cfg->delay_reject) {
        r = smtpd_param_list(&c, "smtpd_client_restrictions", "Client host", s->namaddr);
        if (r == NULL && s->helo != NULL)
            r = smtpd_param_list(&c, "smtpd_helo_restrictions", "Helo command", s->helo);
        if (r == NULL)
            r = smtpd_param_list(&c, "smtpd_sender_restrictions", "Sender address", s->sender.addr);
    }
    if (r == NULL)
        r = smtpd_param_list(&c, "smtpd_relay_restrictions", "Recipient address", rcpt->addr);
    if (r == NULL)
        r = smtpd_param_list(&c, "smtpd_recipient_restrictions", "Recipient address", rcpt->addr);
    if (r == NULL && s->cfg->reject_unlisted && smtpd_unlisted_recipient(&c) == V_REJECT)
        r = c.reply;
    return r;
}

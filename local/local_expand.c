/*
 * local_expand.c - from a recipient address to its destinations.
 *
 *   virtual domain  virtual_mailbox_maps gives a Maildir path under
 *                   virtual_mailbox_base, written as virtual_uid_maps /
 *                   virtual_gid_maps.
 *   local domain    (mydestination, no domain, or any domain qmgr hands
 *                   us at the top level): alias_maps, then the system
 *                   user's .forward, then its Maildir (home_mailbox).
 *   anything else   (found in an expansion) is forwarded via cleanup.
 *
 * Expansion items (alias values, .forward and :include: files) are
 * comma-separated (not inside double quotes): addresses, "|command", "/file", "/maildir/",
 * ":include:/path" and "\user" (that user's mailbox, no more lookups).
 * Nesting is bounded by LOCAL_MAX_DEPTH and the number of destinations by
 * LOCAL_MAX_TARGETS.  An alias or .forward that leads back to a name
 * already being expanded delivers to that user's mailbox instead, and
 * every destination is written at most once per recipient.
 */
#include "local.h"

#include "addr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "priv.h"

#include <ctype.h>
#include <pwd.h>
#include <strings.h>

static bool local_list_allows(const char *param, const char *class)
{
    char **list = cfg_list(param);
    bool ok = false;
    for (size_t i = 0; class && list[i] != NULL && !ok; i++)
        ok = strcasecmp(list[i], class) == 0;
    cfg_list_free(&list);
    return ok;
}

/* The identity for deliveries from an alias found in table spec. */
static bool local_alias_id(const char *spec, struct local_id *id, struct local_rcpt_state *st)
{
    memset(id, 0, sizeof(*id));
    id->class = "alias";
    id->uid = getuid();
    id->gid = getgid();
    if (!local_is_root())
        return true;
    if (local_maps_owner(spec, &id->uid, &id->gid) == 0 && id->uid != 0)
        return true;
    if (priv_lookup_user(cfg_str("default_privs"), &id->uid, &id->gid) < 0 || id->uid == 0) {
        local_note(st, DELIVER_TEMP, "4.3.5", "bad default_privs user %s",
                   cfg_str("default_privs"));
        return false;
    }
    return true;
}

/* ---- virtual mailboxes ------------------------------------------------ */

static bool local_path_safe(const char *p)
{
    for (const char *s = p; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return false;
    return *p != '\0';
}

/* virtual_uid_maps / virtual_gid_maps value as a number. */
static int local_virtual_num(struct local_rcpt_state *st, const char *param, const char *addr,
                             const char *domkey, long *v_r)
{
    const char *v;
    int rc = local_maps_lookup(param, addr, &v, NULL);
    if (rc == 0)
        rc = local_maps_lookup(param, domkey, &v, NULL);
    char *end;
    if (rc == 1) {
        errno = 0;
        *v_r = strtol(v, &end, 10);
        if (errno == 0 && end != v && *end == '\0' && *v_r >= 0)
            return 0;
    }
    local_note(st, DELIVER_TEMP, rc < 0 ? "4.3.0" : "4.3.5", "%s: %s for %s", param,
               rc < 0 ? "table lookup failed" : "no valid entry", addr);
    return -1;
}

static void local_virtual(struct local_rcpt_state *st, const char *addr, const char *user,
                          const char *domain)
{
    char *domkey = xasprintf("@%s", domain);
    char *plain = xasprintf("%s@%s", user, domain);
    const char *v = NULL;
    int rc = local_maps_lookup("virtual_mailbox_maps", addr, &v, NULL);
    if (rc == 0 && strcasecmp(plain, addr) != 0)
        rc = local_maps_lookup("virtual_mailbox_maps", plain, &v, NULL);
    if (rc == 0)
        rc = local_maps_lookup("virtual_mailbox_maps", domkey, &v, NULL);
    long uid, gid;
    if (rc < 0) {
        local_note(st, DELIVER_TEMP, "4.3.0", "virtual_mailbox_maps lookup failed for %s", addr);
    } else if (rc == 0) {
        local_note(st, DELIVER_PERM, "5.1.1", "unknown user: %s", addr);
    } else if (!local_path_safe(v) || v[strlen(v) - 1] != '/' ||
               !*cfg_str("virtual_mailbox_base")) {
        local_note(st, DELIVER_TEMP, "4.3.5",
                   "bad mailbox %s for %s: only Maildir (a path ending in '/') under "
                   "virtual_mailbox_base is supported",
                   v, addr);
    } else {
        char *path = xasprintf("%s/%s", cfg_str("virtual_mailbox_base"), v);
        if (local_virtual_num(st, "virtual_uid_maps", addr, domkey, &uid) == 0 &&
            local_virtual_num(st, "virtual_gid_maps", addr, domkey, &gid) == 0) {
            struct local_id id = {.uid = (uid_t)uid, .gid = (gid_t)gid};
            if (!local_is_root()) {
                id.uid = getuid();
                id.gid = getgid();
            }
            local_to_maildir(st, path, &id);
        }
        free(path);
    }
    free(plain);
    free(domkey);
}

/* ---- system users ----------------------------------------------------- */

static void local_user_mailbox(struct local_rcpt_state *st, const struct passwd *pw)
{
    const char *hm = cfg_str("home_mailbox");
    if (*hm == '\0' || hm[strlen(hm) - 1] != '/' || !local_path_safe(hm)) {
        local_note(st, DELIVER_TEMP, "4.3.5",
                   "home_mailbox %s: only Maildir (a path ending in '/') is supported", hm);
        return;
    }
    char *path = xasprintf("%s/%s", pw->pw_dir, hm);
    struct local_id id = {.uid = pw->pw_uid, .gid = pw->pw_gid, .user = pw->pw_name};
    if (!local_is_root()) {
        id.uid = getuid();
        id.gid = getgid();
    }
    local_to_maildir(st, path, &id);
    free(path);
}

/* Expand $home, $user (also ${...}) in one forward_path entry. */
static char *local_forward_file(const char *tmpl, const struct passwd *pw)
{
    str_t *s = str_new(128);
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "$home", 5) == 0 || strncmp(p, "${home}", 7) == 0) {
            str_appendz(s, pw->pw_dir);
            p += p[1] == '{' ? 7 : 5;
        } else if (strncmp(p, "$user", 5) == 0 || strncmp(p, "${user}", 7) == 0) {
            str_appendz(s, pw->pw_name);
            p += p[1] == '{' ? 7 : 5;
        } else {
            str_appendc(s, *p++);
        }
    }
    return str_steal(&s);
}

/* 1: a .forward was found and expanded; 0: none; -1: failed (noted). */
static int local_user_forward(struct local_rcpt_state *st, const struct passwd *pw, int depth)
{
    bool set;
    char **paths = config_list_split(cfg_raw("forward_path", &set));
    struct local_id id = {.uid = pw->pw_uid,
                          .gid = pw->pw_gid,
                          .user = pw->pw_name,
                          .home = pw->pw_dir,
                          .class = "forward"};
    if (!local_is_root()) {
        id.uid = getuid();
        id.gid = getgid();
    }
    str_t *data = str_new(512);
    int rc = 0;
    for (char **t = paths; *t != NULL && rc == 0; t++) {
        char *path = local_forward_file(*t, pw);
        uid_t fu;
        gid_t fg;
        struct local_outcome o;
        rc = local_child_read(&id, path, local_is_root(), data, &fu, &fg, &o);
        if (rc < 0)
            local_note_outcome(st, &o);
        free(path);
    }
    if (rc == 1) {
        char *key = xasprintf("forward:%s", pw->pw_name);
        local_chain_push(st, key);
        local_expand_list(st, str_c(data), &id, depth + 1);
        local_chain_pop(st);
        free(key);
    }
    str_free(&data);
    cfg_list_free(&paths);
    return rc;
}

static void local_user(struct local_rcpt_state *st, const char *user, int depth, bool no_forward)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        local_note(st, DELIVER_PERM, "5.1.1", "unknown user: \"%s\"", user);
        return;
    }
    char *key = xasprintf("forward:%s", user);
    bool in_chain = local_chain_has(st, key);
    free(key);
    if (no_forward || in_chain || local_user_forward(st, pw, depth) == 0)
        local_user_mailbox(st, pw);
}

/* ---- aliases ---------------------------------------------------------- */

/* 1: an alias was found and expanded; 0: none; -1: failed (noted). */
static int local_alias(struct local_rcpt_state *st, const char *name, int depth)
{
    char *key = xasprintf("alias:%s", name);
    if (local_chain_has(st, key)) { /* "a: a, b": a itself is the user */
        free(key);
        return 0;
    }
    const char *v, *spec = NULL;
    int rc = local_maps_lookup("alias_maps", name, &v, &spec);
    if (rc < 0) {
        local_note(st, DELIVER_TEMP, "4.3.0", "alias_maps lookup failed for %s", name);
    } else if (rc == 1) {
        struct local_id id;
        char *value = xstrdup(v); /* the next lookup may reuse v */
        if (local_alias_id(spec, &id, st)) {
            local_chain_push(st, key);
            local_expand_list(st, value, &id, depth + 1);
            local_chain_pop(st);
        }
        free(value);
    }
    free(key);
    return rc;
}

static bool local_domain_is(const char *domain, const char *param)
{
    return addr_domain_match_list(domain, cfg_str(param), false);
}

/* The internal, lower-cased local part and its unextended form. */
static void local_names(const char *local_ext, char **full_r, char **user_r)
{
    str_t *s = str_new(64);
    if (addr_unquote_local(s, local_ext, strlen(local_ext)) < 0)
        str_setz(s, local_ext);
    str_lower(s);
    char *ext = NULL;
    addr_strip_extension(str_c(s), cfg_str("recipient_delimiter"), user_r, &ext, NULL);
    free(ext);
    *full_r = str_steal(&s);
}

static void local_local(struct local_rcpt_state *st, const char *full, const char *user, int depth)
{
    int rc = local_alias(st, full, depth);
    if (rc == 0 && strcmp(full, user) != 0)
        rc = local_alias(st, user, depth);
    if (rc == 0)
        local_user(st, user, depth, false);
}

void local_expand_addr(struct local_rcpt_state *st, const char *addr, const struct local_id *id,
                       int depth, bool top)
{
    (void)id;
    if (depth > LOCAL_MAX_DEPTH || ++st->ntargets > LOCAL_MAX_TARGETS) {
        local_note(st, DELIVER_PERM, "5.4.6", "mail forwarding loop or expansion too large for %s",
                   st->rcpt);
        return;
    }
    char *local, *domain, *full, *user;
    addr_split(addr, &local, &domain);
    for (char *p = domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    local_names(local, &full, &user);
    if (*domain && local_domain_is(domain, "virtual_mailbox_domains")) {
        char *lc = xasprintf("%s@%s", local, domain);
        local_virtual(st, lc, user, domain);
        free(lc);
    } else if (top || *domain == '\0' || local_domain_is(domain, "mydestination")) {
        local_local(st, full, user, depth);
    } else if (local_seen_add(st, addr)) {
        st->fwd = xreallocarray(st->fwd, st->nfwd + 1, sizeof(*st->fwd));
        st->fwd[st->nfwd++] = xstrdup(addr);
    }
    free(local);
    free(domain);
    free(full);
    free(user);
}

/* ---- expansion items -------------------------------------------------- */

static void local_include(struct local_rcpt_state *st, const char *path, const struct local_id *id,
                          int depth)
{
    str_t *data = str_new(512);
    uid_t fu;
    gid_t fg;
    struct local_outcome o;
    int rc = local_child_read(id, path, false, data, &fu, &fg, &o);
    if (rc < 0) {
        local_note_outcome(st, &o);
    } else if (rc == 0) {
        local_note(st, DELIVER_PERM, "5.3.5", ":include: file %s does not exist", path);
    } else {
        struct local_id inc = *id;
        inc.class = "include";
        if (local_is_root() && fu != 0) {
            inc.uid = fu;
            inc.gid = fg;
        }
        local_expand_list(st, str_c(data), &inc, depth + 1);
    }
    str_free(&data);
}

static void local_item(struct local_rcpt_state *st, char *item, const struct local_id *id,
                       int depth)
{
    size_t n = strlen(item);
    if (n >= 2 && item[0] == '"' && item[n - 1] == '"') {
        item[n - 1] = '\0';
        item++;
    }
    if (*item == '|') {
        if (!local_list_allows("allow_mail_to_commands", id->class))
            local_note(st, DELIVER_PERM, "5.7.1", "mail to command is restricted (%s)",
                       id->class ? id->class : "mailbox");
        else
            local_to_command(st, item + 1, id);
    } else if (*item == '/') {
        if (!local_list_allows("allow_mail_to_files", id->class))
            local_note(st, DELIVER_PERM, "5.7.1", "mail to file is restricted (%s)",
                       id->class ? id->class : "mailbox");
        else if (item[strlen(item) - 1] == '/')
            local_to_maildir(st, item, id);
        else
            local_to_file(st, item, id);
    } else if (strncasecmp(item, ":include:", 9) == 0) {
        if (depth > LOCAL_MAX_DEPTH)
            local_note(st, DELIVER_PERM, "5.4.6", ":include: nesting too deep");
        else
            local_include(st, item + 9, id, depth);
    } else if (*item == '\\') {
        char *full, *user;
        local_names(item + 1, &full, &user);
        local_user(st, user, depth, true);
        free(full);
        free(user);
    } else {
        if (*item == '<' && item[strlen(item) - 1] == '>') {
            item[strlen(item) - 1] = '\0';
            item++;
        }
        if (*item)
            local_expand_addr(st, item, id, depth, false);
    }
}

/* Split one line at commas outside double quotes ("|cmd a,b" stays whole). */
static void local_expand_line(struct local_rcpt_state *st, const char *line,
                              const struct local_id *id, int depth)
{
    str_t *s = str_new(64);
    bool quoted = false;
    for (const char *p = line;; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (*p == '\0' || (*p == ',' && !quoted)) {
            str_trim(s);
            if (str_len(s) > 0)
                local_item(st, s->s, id, depth);
            str_reset(s);
            if (*p == '\0')
                break;
            continue;
        }
        str_appendc(s, *p);
    }
    str_free(&s);
}

void local_expand_list(struct local_rcpt_state *st, const char *text, const struct local_id *id,
                       int depth)
{
    char *copy = xstrdup(text), *save = NULL;
    /* .forward and :include: files: one or more items per line, '#' comments. */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '#')
            continue;
        local_expand_line(st, line, id, depth);
    }
    free(copy);
}

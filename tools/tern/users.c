/*
 * users.c - the user database and mailboxes of an instance made by
 * `tern init --user ADDR[:PASSWORD]`.
 *
 * DIR/users is in Dovecot's passwd-file format,
 *   user@domain:{SCHEME}hash::::::
 * with a crypt(3) hash from libxcrypt (yescrypt, else sha512-crypt), so it
 * can be handed to Dovecot or read by authd.  DIR/vmailbox lists the same
 * users for virtual_mailbox_maps (texthash), each with its Maildir
 * DOMAIN/USER/ under virtual_mailbox_base = DIR/mail.
 */
#include "sys.h"

#include <ctype.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "log.h"
#include "mem.h"
#include "passwd_file.h"
#include "str.h"
#include "tern.h"

#define USER_PASSWORD_LEN 16
#define USER_LOCAL_MAX 64

static const char user_pw_alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/* A random password without look-alike characters. */
static char *user_random_password(void)
{
    unsigned char raw[USER_PASSWORD_LEN];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            msg_fatal("getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    char *pw = xmalloc(USER_PASSWORD_LEN + 1);
    for (size_t i = 0; i < USER_PASSWORD_LEN; i++)
        pw[i] = user_pw_alphabet[raw[i] % (sizeof(user_pw_alphabet) - 1)];
    pw[USER_PASSWORD_LEN] = '\0';
    return pw;
}

static bool user_valid_local(const char *l)
{
    size_t n = strlen(l);
    if (n == 0 || n > USER_LOCAL_MAX || l[0] == '.' || l[n - 1] == '.' || strstr(l, "..") != NULL)
        return false;
    for (const char *p = l; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("._+-", *p) == NULL)
            return false;
    return true;
}

static bool user_valid_domain(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.' ||
        strstr(d, "..") != NULL)
        return false;
    for (const char *p = d; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            return false;
    return true;
}

static void user_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int tern_user_parse(const char *spec, const char *default_domain, struct tern_user *u)
{
    const char *colon = strchr(spec, ':');
    char *addr = colon ? xstrndup(spec, (size_t)(colon - spec)) : xstrdup(spec);
    char *at = strrchr(addr, '@');
    memset(u, 0, sizeof(*u));
    u->local = at ? xstrndup(addr, (size_t)(at - addr)) : xstrdup(addr);
    u->domain = xstrdup(at ? at + 1 : default_domain);
    free(addr);
    user_lower(u->local);
    user_lower(u->domain);
    if (!user_valid_local(u->local) || !user_valid_domain(u->domain)) {
        msg_error("--user %.*s: not a valid address (user or user@domain, letters, digits "
                  "and . _ + - only)",
                  colon ? (int)(colon - spec) : (int)strlen(spec), spec);
        tern_user_clear(u);
        return -1;
    }
    if (colon != NULL && colon[1] != '\0')
        u->password = xstrdup(colon + 1);
    else {
        u->password = user_random_password();
        u->generated = true;
    }
    return 0;
}

void tern_user_clear(struct tern_user *u)
{
    if (u->password != NULL)
        explicit_bzero(u->password, strlen(u->password));
    xfree(u->local);
    xfree(u->domain);
    xfree(u->password);
}

/* "{CRYPT}$y$..." (yescrypt) or "{SHA512-CRYPT}$6$...": see passwd_hash(). */
static char *user_hash(const char *password)
{
    char *error = NULL;
    char *out = passwd_hash("CRYPT", password, &error);
    if (out == NULL) {
        msg_error("%s", error);
        free(error);
    }
    return out;
}

static int user_mkdir_owned(const char *path, uid_t uid, gid_t gid)
{
    if (tern_mkdir(path, 0700) < 0)
        return -1;
    if (getuid() == 0 && chown(path, uid, gid) < 0) {
        msg_error("chown %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* DIR/mail/DOMAIN/USER/{tmp,new,cur}. */
static int user_make_maildir(const char *dir, const struct tern_user *u, uid_t uid, gid_t gid)
{
    static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
    char *domdir = xasprintf("%s/mail/%s", dir, u->domain);
    int rc = user_mkdir_owned(domdir, uid, gid);
    for (size_t i = 0; rc == 0 && i < N_ELEMENTS(subs); i++) {
        char *path = xasprintf("%s/%s%s", domdir, u->local, subs[i]);
        rc = user_mkdir_owned(path, uid, gid);
        free(path);
    }
    free(domdir);
    return rc;
}

/* Whether the users-file line belongs to one of the users being (re)added. */
static bool user_line_replaced(const char *line, size_t len, const struct tern_user *users,
                               size_t count)
{
    const char *colon = memchr(line, ':', len);
    size_t n = colon ? (size_t)(colon - line) : len;
    for (size_t i = 0; i < count; i++) {
        size_t ll = strlen(users[i].local), dl = strlen(users[i].domain);
        if (n == ll + 1 + dl && strncasecmp(line, users[i].local, ll) == 0 && line[ll] == '@' &&
            strncasecmp(line + ll + 1, users[i].domain, dl) == 0)
            return true;
    }
    return false;
}

/* Existing lines of path that are not replaced, each ending in "\n". */
static void user_keep_lines(const char *path, str_t *out, const struct tern_user *users,
                            size_t count)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0 && !user_line_replaced(line, (size_t)n, users, count))
            str_appendf(out, "%s\n", line);
    }
    free(line);
    fclose(fp);
}

/* Append domain to the space-separated list unless it is there already. */
static void user_add_domain(str_t *domains, const char *d, size_t len)
{
    const char *p = str_c(domains);
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (n == len && strncasecmp(p, d, len) == 0)
            return;
        p += n + (p[n] == ' ');
    }
    str_appendf(domains, "%s%.*s", str_len(domains) ? " " : "", (int)len, d);
}

/*
 * DIR/vmailbox from the final users file: "user@domain domain/user/";
 * each user's domain is added to domains.
 */
static int user_write_vmailbox(const char *dir, const str_t *users_text, str_t *domains)
{
    str_t *out = str_new(256);
    str_appendz(out, "# vmailbox - generated by `tern init` from users: address and Maildir\n"
                     "# (relative to virtual_mailbox_base) of each virtual user.\n");
    const char *p = str_c(users_text);
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        const char *at = colon ? memchr(p, '@', (size_t)(colon - p)) : NULL;
        if (p[0] != '#' && at != NULL) {
            user_add_domain(domains, at + 1, (size_t)(colon - at - 1));
            str_appendf(out, "%.*s %.*s/%.*s/\n", (int)(colon - p), p, (int)(colon - at - 1),
                        at + 1, (int)(at - p), p);
        }
        p += len + (nl != NULL);
    }
    char *path = xasprintf("%s/vmailbox", dir);
    int rc = tern_write_file(path, str_c(out), str_len(out), 0644);
    free(path);
    str_free(&out);
    return rc;
}

int tern_users_write(const char *dir, struct tern_user *users, size_t count, uid_t uid, gid_t gid,
                     str_t *domains)
{
    char *path = xasprintf("%s/users", dir);
    str_t *text = str_new(1024);
    int rc = 0;
    user_keep_lines(path, text, users, count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (users[i].no_login) {
            rc = user_make_maildir(dir, &users[i], uid, gid);
            continue;
        }
        char *hash = user_hash(users[i].password);
        if (hash == NULL)
            rc = -1;
        else
            str_appendf(text, "%s@%s:%s::::::\n", users[i].local, users[i].domain, hash);
        free(hash);
        if (rc == 0)
            rc = user_make_maildir(dir, &users[i], uid, gid);
    }
    /* authd (mail_owner) reads it; nobody else may. */
    if (rc == 0)
        rc = tern_write_file(path, str_c(text), str_len(text), getuid() == 0 ? 0640 : 0600);
    if (rc == 0 && getuid() == 0 && chown(path, 0, gid) < 0) {
        msg_error("chown %s: %s", path, strerror(errno));
        rc = -1;
    }
    /* Mailboxes without a login are in vmailbox only. */
    for (size_t i = 0; i < count; i++)
        if (users[i].no_login)
            str_appendf(text, "%s@%s:\n", users[i].local, users[i].domain);
    if (rc == 0)
        rc = user_write_vmailbox(dir, text, domains);
    str_free(&text);
    free(path);
    return rc;
}

char **tern_users_list(const char *dir)
{
    char *path = xasprintf("%s/users", dir);
    str_t *text = str_new(1024);
    user_keep_lines(path, text, NULL, 0);
    size_t n = 0;
    char **list = xreallocarray(NULL, 1, sizeof(*list));
    for (const char *p = str_c(text); *p != '\0';) {
        size_t len = strcspn(p, "\n");
        const char *colon = memchr(p, ':', len);
        if (p[0] != '#' && colon != NULL && memchr(p, '@', (size_t)(colon - p)) != NULL) {
            list = xreallocarray(list, size_add(n, 2), sizeof(*list));
            list[n++] = xstrndup(p, (size_t)(colon - p));
        }
        p += len + (p[len] == '\n');
    }
    list[n] = NULL;
    str_free(&text);
    free(path);
    return list;
}

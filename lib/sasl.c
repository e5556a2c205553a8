/*
 * sasl.c - SASL PLAIN and LOGIN, server side (see sasl.h).
 *
 * Everything here parses bytes from an unauthenticated network client:
 * lengths are checked before decoding, base64 is strict (canonical, with
 * padding), and every field is bounded and NUL-free.
 */
#include "sasl.h"
#include "log.h"
#include "mem.h"

#include <strings.h>

enum { SASL_MECH_PLAIN = 1, SASL_MECH_LOGIN = 2 };

/* LOGIN's challenges: "Username:" and "Password:" in base64. */
#define SASL_LOGIN_USER "VXNlcm5hbWU6"
#define SASL_LOGIN_PASS "UGFzc3dvcmQ6"

static const char sasl_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- base64 ------------------------------------------------------------ */

static int sasl_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Padding: 0, 1 or 2 '=' at the very end only. */
static int sasl_b64_pads(const char *in, size_t len)
{
    int pads = 0;
    if (len >= 1 && in[len - 1] == '=')
        pads++;
    if (len >= 2 && in[len - 2] == '=')
        pads++;
    return pads;
}

/* One 4-character group into up to 3 bytes; -1 when not canonical. */
static int sasl_b64_group(const char *g, int pads, str_t *out)
{
    int v[4];
    for (int i = 0; i < 4 - pads; i++)
        if ((v[i] = sasl_b64_value((unsigned char)g[i])) < 0)
            return -1;
    for (int i = 4 - pads; i < 4; i++)
        v[i] = 0;
    uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if ((pads == 1 && (n & 0xff) != 0) || (pads == 2 && (n & 0xffff) != 0))
        return -1; /* unused bits must be zero */
    char b[3] = {(char)(n >> 16), (char)(n >> 8), (char)n};
    return str_append(out, b, (size_t)(3 - pads));
}

int sasl_base64_decode(const char *in, size_t len, str_t *out, size_t max, char **error_r)
{
    str_reset(out);
    if (len % 4 != 0)
        return error_set(error_r, "malformed base64 (length %zu)", len);
    if (len / 4 > max / 3 + 1)
        return error_set(error_r, "response too long");
    int pads = sasl_b64_pads(in, len);
    if ((len / 4) * 3 - (size_t)pads > max)
        return error_set(error_r, "response too long");
    for (size_t i = 0; i < len; i += 4) {
        int p = i + 4 == len ? pads : 0;
        if (sasl_b64_group(in + i, p, out) < 0) {
            str_reset(out);
            return error_set(error_r, "malformed base64");
        }
    }
    return 0;
}

void sasl_base64_encode(const void *data, size_t len, str_t *out)
{
    const unsigned char *p = data;
    str_reset(out);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            n |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            n |= p[i + 2];
        char g[4] = {sasl_b64[n >> 18 & 63], sasl_b64[n >> 12 & 63],
                     i + 1 < len ? sasl_b64[n >> 6 & 63] : '=',
                     i + 2 < len ? sasl_b64[n & 63] : '='};
        str_append(out, g, 4);
    }
}

/* ---- PLAIN ------------------------------------------------------------ */

void sasl_creds_clear(struct sasl_creds *c)
{
    if (c->password != NULL)
        explicit_bzero(c->password, strlen(c->password));
    xfree(c->authzid);
    xfree(c->authcid);
    xfree(c->password);
}

int sasl_plain_parse(const void *msg, size_t len, struct sasl_creds *c, char **error_r)
{
    const char *p = msg, *end = p + len;
    const char *nul1 = memchr(p, '\0', len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
    memset(c, 0, sizeof(*c));
    if (nul1 == NULL || nul2 == NULL)
        return error_set(error_r, "PLAIN response without two NUL separators");
    if (memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)) != NULL)
        return error_set(error_r, "PLAIN response with more than two NUL separators");
    size_t zlen = (size_t)(nul1 - p), clen = (size_t)(nul2 - nul1 - 1);
    size_t plen = (size_t)(end - nul2 - 1);
    if (clen == 0 || plen == 0)
        return error_set(error_r, "PLAIN response with an empty user name or password");
    if (zlen > SASL_FIELD_MAX || clen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX)
        return error_set(error_r, "PLAIN response field longer than %d bytes", SASL_FIELD_MAX);
    c->authzid = xstrndup(p, zlen);
    c->authcid = xstrndup(nul1 + 1, clen);
    c->password = xstrndup(nul2 + 1, plen);
    return 0;
}

/* ---- the exchange ------------------------------------------------------- */

bool sasl_mech_supported(const char *name)
{
    return strcasecmp(name, "PLAIN") == 0 || strcasecmp(name, "LOGIN") == 0;
}

const char *sasl_mech_list(void)
{
    return "PLAIN LOGIN";
}

/* ---- security options ----------------------------------------------------- */

/*
 * What each mechanism is, in the terms of the options.  As Dovecot
 * describes its mechanisms to Postfix: PLAIN and LOGIN send the password
 * in the clear and are neither anonymous nor open to dictionary or
 * active attacks beyond that; they give no mutual authentication and no
 * forward secrecy.
 */
static const struct {
    const char *name;
    unsigned props; /* SASL_SEC_* this mechanism offends against */
} sasl_mechs[] = {
    {"PLAIN", SASL_SEC_NOPLAINTEXT | SASL_SEC_MUTUAL_AUTH | SASL_SEC_FORWARD_SECRECY},
    {"LOGIN", SASL_SEC_NOPLAINTEXT | SASL_SEC_MUTUAL_AUTH | SASL_SEC_FORWARD_SECRECY},
};

static const struct {
    const char *name;
    unsigned flag;
} sasl_sec_names[] = {
    {"noplaintext", SASL_SEC_NOPLAINTEXT},   {"noactive", SASL_SEC_NOACTIVE},
    {"nodictionary", SASL_SEC_NODICTIONARY}, {"noanonymous", SASL_SEC_NOANONYMOUS},
    {"mutual_auth", SASL_SEC_MUTUAL_AUTH},   {"forward_secrecy", SASL_SEC_FORWARD_SECRECY},
};

int sasl_security_parse(const char *text, unsigned *flags_r, char **error_r)
{
    unsigned flags = 0;
    const char *sep = " \t,";
    for (const char *p = text + strspn(text, sep); *p != '\0'; p += strspn(p, sep)) {
        size_t n = strcspn(p, sep);
        size_t i = 0;
        while (i < N_ELEMENTS(sasl_sec_names) && !(strlen(sasl_sec_names[i].name) == n &&
                                                   strncasecmp(p, sasl_sec_names[i].name, n) == 0))
            i++;
        if (i == N_ELEMENTS(sasl_sec_names))
            return error_set(error_r, "unknown SASL security option \"%.*s\"", (int)n, p);
        flags |= sasl_sec_names[i].flag;
        p += n;
    }
    *flags_r = flags;
    return 0;
}

bool sasl_mech_allowed(const char *name, unsigned flags)
{
    for (size_t i = 0; i < N_ELEMENTS(sasl_mechs); i++)
        if (strcasecmp(name, sasl_mechs[i].name) == 0)
            return (sasl_mechs[i].props & flags) == 0;
    return false;
}

const char *sasl_mech_list_for(unsigned flags)
{
    static char list[64];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < N_ELEMENTS(sasl_mechs); i++)
        if ((sasl_mechs[i].props & flags) == 0)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? " " : "",
                                    sasl_mechs[i].name);
    return list;
}

/* Decode a response; "*" is a cancel.  Returns SASL_DONE or another status. */
static int sasl_decode(const char *resp, size_t len, str_t *out, size_t max, char **error_r)
{
    if (len == 1 && resp[0] == '*')
        return SASL_CANCELLED;
    if (sasl_base64_decode(resp, len, out, max, error_r) < 0)
        return SASL_ERROR;
    return SASL_DONE;
}

/* A LOGIN field: 1..SASL_FIELD_MAX bytes, no NUL. */
static int sasl_login_field(const str_t *d, char **field_r, const char *what, char **error_r)
{
    if (str_len(d) == 0 || memchr(str_c(d), '\0', str_len(d)) != NULL) {
        error_set(error_r, "LOGIN %s empty or with a NUL byte", what);
        return SASL_ERROR;
    }
    *field_r = xstrndup(str_c(d), str_len(d));
    return SASL_DONE;
}

static int sasl_step_decoded(struct sasl_server *x, const str_t *d, const char **challenge_r,
                             char **error_r)
{
    if (x->mech == SASL_MECH_PLAIN)
        return sasl_plain_parse(str_c(d), str_len(d), &x->creds, error_r) < 0 ? SASL_ERROR
                                                                              : SASL_DONE;
    if (x->step == 0) {
        if (sasl_login_field(d, &x->creds.authcid, "user name", error_r) != SASL_DONE)
            return SASL_ERROR;
        x->step = 1;
        *challenge_r = SASL_LOGIN_PASS;
        return SASL_CONTINUE;
    }
    if (sasl_login_field(d, &x->creds.password, "password", error_r) != SASL_DONE)
        return SASL_ERROR;
    x->creds.authzid = xstrdup("");
    x->step = 2;
    return SASL_DONE;
}

int sasl_server_step(struct sasl_server *x, const char *response, size_t len,
                     const char **challenge_r, char **error_r)
{
    if (x->mech == 0 || x->step > 1)
        msg_panic("sasl_server_step: no exchange in progress");
    size_t max = x->mech == SASL_MECH_PLAIN ? SASL_DECODED_MAX : SASL_FIELD_MAX;
    str_t *d = str_new(64);
    int rc = sasl_decode(response, len, d, max, error_r);
    if (rc == SASL_DONE)
        rc = sasl_step_decoded(x, d, challenge_r, error_r);
    explicit_bzero(d->s, d->cap);
    str_free(&d);
    if (rc == SASL_ERROR || rc == SASL_CANCELLED)
        sasl_creds_clear(&x->creds);
    return rc;
}

int sasl_server_start(struct sasl_server *x, const char *mech, const char *initial,
                      const char **challenge_r, char **error_r)
{
    memset(x, 0, sizeof(*x));
    *challenge_r = "";
    if (strcasecmp(mech, "PLAIN") == 0)
        x->mech = SASL_MECH_PLAIN;
    else if (strcasecmp(mech, "LOGIN") == 0)
        x->mech = SASL_MECH_LOGIN;
    else {
        error_set(error_r, "unsupported authentication mechanism");
        return SASL_ERROR;
    }
    if (initial == NULL) {
        *challenge_r = x->mech == SASL_MECH_PLAIN ? "" : SASL_LOGIN_USER;
        return SASL_CONTINUE;
    }
    if (strcmp(initial, "=") == 0)
        initial = "";
    return sasl_server_step(x, initial, strlen(initial), challenge_r, error_r);
}

void sasl_server_clear(struct sasl_server *x)
{
    sasl_creds_clear(&x->creds);
    memset(x, 0, sizeof(*x));
}

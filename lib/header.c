/*
 * header.c - RFC 5322 header section reader and field helpers (header.h).
 */
#include "sys.h"
#include "header.h"

#include "log.h"
#include "mem.h"

/* Progress through the first line of a field: its name, then the colon. */
enum name_state { NAME_SCAN, NAME_WSP, NAME_DONE, NAME_BAD };

enum reader_state { RD_HEADER, RD_BODY, RD_STOPPED };

struct header_reader {
    size_t max;
    header_event_fn *fn;
    void *ctx;
    str_t *cur;           /* the logical field being collected */
    size_t total;         /* FIELD bytes emitted so far */
    bool line_start;      /* the next byte starts a physical line */
    enum name_state name; /* of cur's first line */
    enum reader_state state;
    enum header_end end;
};

header_reader_t *header_reader_new(size_t max, header_event_fn *fn, void *ctx)
{
    if (max == 0 || fn == NULL)
        msg_panic("header_reader_new: max %zu, fn %p", max, (void *)fn);
    header_reader_t *r = xcalloc(1, sizeof(*r));
    r->max = max;
    r->fn = fn;
    r->ctx = ctx;
    r->cur = str_new(256);
    r->line_start = true;
    r->state = RD_HEADER;
    return r;
}

void header_reader_free(header_reader_t **rp)
{
    header_reader_t *r = *rp;
    if (r == NULL)
        return;
    str_free(&r->cur);
    free(r);
    *rp = NULL;
}

enum header_end header_reader_end(const header_reader_t *r)
{
    return r->end;
}

size_t header_reader_header_size(const header_reader_t *r)
{
    return r->total;
}

/* Call the callback unless stopped; a -1 from it stops the reader. */
static int reader_emit(header_reader_t *r, enum header_event ev, const char *data, size_t len)
{
    if (r->state == RD_STOPPED)
        return -1;
    if (ev == HEADER_EV_BODY && len == 0)
        return 0;
    if (r->fn(ev, data, len, r->ctx) < 0) {
        r->state = RD_STOPPED;
        return -1;
    }
    return 0;
}

static int reader_emit_field(header_reader_t *r)
{
    r->total += str_len(r->cur);
    int rc = reader_emit(r, HEADER_EV_FIELD, str_c(r->cur), str_len(r->cur));
    str_reset(r->cur);
    return rc;
}

/* End the header section; what cur holds (not a field) becomes body. */
static int reader_end(header_reader_t *r, enum header_end why)
{
    r->end = why;
    if (reader_emit(r, HEADER_EV_END, NULL, 0) < 0 ||
        reader_emit(r, HEADER_EV_BODY, str_c(r->cur), str_len(r->cur)) < 0)
        return -1;
    str_reset(r->cur);
    r->state = RD_BODY;
    return 0;
}

/* Advance the name check of a field's first line over data. */
static void reader_scan_name(header_reader_t *r, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && r->name != NAME_DONE && r->name != NAME_BAD; i++) {
        unsigned char c = p[i];
        if (c == ':')
            r->name = (r->name == NAME_SCAN && str_len(r->cur) + i == 0) ? NAME_BAD : NAME_DONE;
        else if (r->name == NAME_SCAN && c >= 33 && c <= 126)
            continue;
        else if ((c == ' ' || c == '\t') && str_len(r->cur) + i > 0)
            r->name = NAME_WSP;
        else
            r->name = NAME_BAD;
    }
}

/*
 * At the first byte of a physical line: decide whether it continues the
 * pending field, starts a new one, or ends the header section.
 * Returns 1 when the section ended, 0 to go on, -1 when stopped.
 */
static int reader_line_start(header_reader_t *r, unsigned char c)
{
    r->line_start = false;
    if (str_len(r->cur) > 0) {
        if (c == ' ' || c == '\t')
            return 0;
        if (reader_emit_field(r) < 0)
            return -1;
    }
    if (c == '\n')
        return reader_end(r, HEADER_END_BLANK) < 0 ? -1 : 1;
    r->name = NAME_SCAN;
    return 0;
}

int header_reader_feed(header_reader_t *r, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        if (r->state == RD_STOPPED)
            return -1;
        if (r->state == RD_BODY)
            return reader_emit(r, HEADER_EV_BODY, (const char *)p + i, len - i);
        if (r->line_start) {
            int rc = reader_line_start(r, p[i]);
            if (rc < 0)
                return -1;
            if (rc > 0)
                continue;
        }
        const unsigned char *nl = memchr(p + i, '\n', len - i);
        size_t seg = nl != NULL ? (size_t)(nl - (p + i)) + 1 : len - i;
        reader_scan_name(r, p + i, seg);
        if (r->name == NAME_BAD) {
            if (reader_end(r, HEADER_END_NONHEADER) < 0)
                return -1;
            continue;
        }
        if (r->total + str_len(r->cur) + seg > r->max) {
            if (reader_end(r, HEADER_END_OVERSIZE) < 0)
                return -1;
            continue;
        }
        str_append(r->cur, p + i, seg);
        i += seg;
        r->line_start = nl != NULL;
    }
    return r->state == RD_STOPPED ? -1 : 0;
}

int header_reader_finish(header_reader_t *r)
{
    if (r->state == RD_STOPPED)
        return -1;
    if (r->state == RD_HEADER) {
        if (str_len(r->cur) > 0 && r->name == NAME_DONE && reader_emit_field(r) < 0)
            return -1;
        if (str_len(r->cur) > 0)
            return reader_end(r, HEADER_END_NONHEADER);
        return reader_end(r, HEADER_END_EOF);
    }
    return 0;
}

/* ---- one field ------------------------------------------------------ */

/* Name length and the offset just past the colon; 0 if not a field. */
static size_t header_scan(const char *line, size_t len, size_t *colon_r)
{
    size_t n = 0;
    while (n < len && (unsigned char)line[n] >= 33 && (unsigned char)line[n] <= 126 &&
           line[n] != ':')
        n++;
    if (n == 0)
        return 0;
    size_t i = n;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= len || line[i] != ':')
        return 0;
    *colon_r = i + 1;
    return n;
}

size_t header_name_len(const char *line, size_t len)
{
    size_t colon;
    return header_scan(line, len, &colon);
}

bool header_name_is(const char *field, size_t len, const char *name)
{
    size_t n = header_name_len(field, len);
    return n > 0 && n == strlen(name) && strncasecmp(field, name, n) == 0;
}

int header_split(const char *field, size_t len, const char **name_r, size_t *name_len_r,
                 const char **value_r, size_t *value_len_r)
{
    size_t colon;
    size_t n = header_scan(field, len, &colon);
    if (n == 0)
        return -1;
    size_t v = colon;
    while (v < len && (field[v] == ' ' || field[v] == '\t'))
        v++;
    size_t end = len;
    if (end > v && field[end - 1] == '\n')
        end--;
    if (end > v && field[end - 1] == '\r')
        end--;
    *name_r = field;
    *name_len_r = n;
    *value_r = field + v;
    *value_len_r = end - v;
    return 0;
}

int header_unfold(str_t *dst, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        bool crlf = text[i] == '\r' && i + 1 < len && text[i + 1] == '\n';
        if (text[i] != '\n' && !crlf)
            continue;
        if (str_append(dst, text + start, i - start) < 0)
            return -1;
        if (crlf)
            i++;
        start = i + 1;
    }
    return str_append(dst, text + start, len - start);
}

/* ---- address lists -------------------------------------------------- */

struct alist {
    str_t *elem;  /* the element outside <>, comments removed */
    str_t *angle; /* the text inside <> */
    bool in_angle, saw_angle, in_quote, in_literal, broken;
    int comment; /* comment nesting depth */
    int skipped;
};

/* Whether a candidate addr-spec is plausible (see header.h). */
static bool alist_valid(const char *a, size_t len)
{
    if (len == 0 || len > HEADER_ADDR_MAX)
        return false;
    bool quote = false, literal = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c == 0x7f || (c < 0x20 && c != '\t') || (c == '\t' && !quote))
            return false;
        if (quote) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quote = false;
        } else if (c == '"') {
            quote = true;
        } else if (literal) {
            literal = c != ']';
        } else if (c == '[') {
            literal = true;
        } else if (c == ' ' || strchr("<>(),;:\\", c) != NULL) {
            return false;
        }
    }
    return !quote && !literal;
}

/* Finish one list element: hand its address to fn. */
static int alist_flush(struct alist *l, header_addr_fn *fn, void *ctx)
{
    const char *a;
    size_t n;
    str_trim(l->elem);
    if (l->saw_angle) {
        a = str_c(l->angle);
        n = str_len(l->angle);
        const char *colon = n > 0 && a[0] == '@' ? memchr(a, ':', n) : NULL;
        if (colon != NULL) {
            n -= (size_t)(colon + 1 - a);
            a = colon + 1;
        }
    } else {
        a = str_c(l->elem);
        n = str_len(l->elem);
    }
    int rc = 0;
    bool empty = !l->saw_angle && n == 0 && !l->broken;
    if (!empty) {
        if (!l->broken && alist_valid(a, n))
            rc = fn(a, n, ctx) < 0 ? -1 : 0;
        else
            l->skipped++;
    }
    str_reset(l->elem);
    str_reset(l->angle);
    l->saw_angle = l->broken = false;
    return rc;
}

/* Append c to t; an element over the bound is broken (skipped). */
static void alist_put(struct alist *l, str_t *t, char c)
{
    if (str_appendc(t, c) < 0)
        l->broken = true;
}

/* One byte outside quotes, comments and literals.  1: element ended. */
static int alist_special(struct alist *l, char c, str_t *t)
{
    switch (c) {
    case '"':
        l->in_quote = true;
        break;
    case '[':
        l->in_literal = true;
        break;
    case '(':
        l->comment = 1;
        return 0;
    case '<':
        l->broken |= l->in_angle || l->saw_angle;
        l->in_angle = l->saw_angle = true;
        str_reset(l->angle);
        return 0;
    case '>':
        l->broken |= !l->in_angle;
        l->in_angle = false;
        return 0;
    case ',':
    case ';':
        if (!l->in_angle)
            return 1;
        break;
    case ':':
        if (!l->in_angle) { /* a group's display name */
            str_reset(l->elem);
            l->broken = l->saw_angle = false;
            return 0;
        }
        break;
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        if (!l->in_angle)
            alist_put(l, t, ' ');
        return 0;
    default:
        break;
    }
    alist_put(l, t, c);
    return 0;
}

int header_addr_list(const char *value, size_t len, header_addr_fn *fn, void *ctx)
{
    struct alist l = {
        .elem = str_new_max(64, HEADER_ADDR_MAX + 1),
        .angle = str_new_max(64, HEADER_ADDR_MAX + 1),
    };
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = value[i];
        str_t *t = l.in_angle ? l.angle : l.elem;
        if (l.comment > 0) {
            if (c == '\\')
                i++;
            else
                l.comment += c == '(' ? 1 : c == ')' ? -1 : 0;
            continue;
        }
        if (l.in_quote || l.in_literal) {
            alist_put(&l, t, c);
            if (l.in_quote && c == '\\' && i + 1 < len)
                alist_put(&l, t, value[++i]);
            else if (l.in_quote ? c == '"' : c == ']') {
                l.in_quote = l.in_literal = false;
            }
            continue;
        }
        if (alist_special(&l, c, t) > 0)
            rc = alist_flush(&l, fn, ctx);
    }
    if (rc == 0) {
        l.broken |= l.in_quote || l.in_literal || l.in_angle || l.comment > 0;
        rc = alist_flush(&l, fn, ctx);
    }
    str_free(&l.elem);
    str_free(&l.angle);
    return rc < 0 ? -1 : l.skipped;
}

/*
 * ini_text.c - INI text read the way Haraka's own config loader reads it.
 *
 * For: settings.c (relay.ini) and domains.c (relay_dest_domains.ini).
 *
 * inih does the splitting of `[section]` and `key = value` lines.  What inih
 * cannot be configured to do is done here, in the line reader that feeds it
 * (the rules are haraka-config's lib/readers/ini.js):
 *   - lines end at CRLF, CR or LF; a UTF-8 BOM at the start is dropped;
 *   - comment (first non-blank is ; or #) and blank lines are skipped;
 *   - a line ending in a backslash (blanks may follow it) is joined with the
 *     next line that is not a comment, blank or section header;
 *   - a section header is `[ name ]` with nothing after the `]`;
 *   - a parameter line is a key of letters, digits and _ @ : . + - / [ ]
 *     then optionally `= value`: only `=` separates (inih also splits at
 *     `:`, so a `:` in the key is handed to inih as \x1f and turned back);
 *   - no inline comments; lines of any length.
 * A line Haraka would skip as invalid is reported here as an error and not
 * passed on.  Control characters (NUL included) in a line are reported and
 * the line is skipped: a line that cannot be read is never half-read.
 * Diagnostics name the first physical line of a joined line.
 */
#include "core.h"

#include "ini.h"

#include <stdlib.h>
#include <string.h>

#define KEY_COLON '\x1f'

struct line_buf {
    char *data;
    size_t len, cap;
};

struct reader {
    const char *p, *end;
    enum relay_file file;
    struct diag_list *diags;
    uint32_t next_line;     /* physical number of the next line to read */
    struct line_buf pre;    /* pending continuation text */
    uint32_t pre_line;      /* where the pending text started */
    struct line_buf out;    /* the logical line being handed to inih */
    size_t out_pos;
    uint32_t out_line;      /* physical line the logical line started on */
    int oom;
    /* handler side */
    ini_entry_fn fn;
    void *user;
    int stopped;
    int saw_header; /* a section header was read */
};

static int buf_put(struct line_buf *b, const char *s, size_t n)
{
    if (b->len + n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 2)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

static int is_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("_@:.+-/[]", c) != NULL;
}

/* Next physical line as [*s, *s + *n), without its line end. */
static int next_physical(struct reader *r, const char **s, size_t *n)
{
    if (r->p >= r->end)
        return 0;
    const char *start = r->p, *q = r->p;
    while (q < r->end && *q != '\n' && *q != '\r')
        q++;
    *s = start;
    *n = (size_t)(q - start);
    if (q < r->end)
        q += (*q == '\r' && q + 1 < r->end && q[1] == '\n') ? 2 : 1;
    r->p = q;
    r->next_line++;
    return 1;
}

static size_t skip_blanks(const char *s, size_t n, size_t i)
{
    while (i < n && is_blank((unsigned char)s[i]))
        i++;
    return i;
}

static size_t trim_end(const char *s, size_t n)
{
    while (n > 0 && is_blank((unsigned char)s[n - 1]))
        n--;
    return n;
}

/* `[ name ]` with only blanks around: the trimmed name. */
static int is_section(const char *s, size_t n, const char **name, size_t *name_len)
{
    size_t i = skip_blanks(s, n, 0), end = trim_end(s, n);
    if (i >= end || s[i] != '[' || s[end - 1] != ']')
        return 0;
    for (size_t k = i + 1; k < end - 1; k++)
        if (s[k] == ']')
            return 0;
    size_t a = skip_blanks(s, end - 1, i + 1), b = trim_end(s, end - 1);
    *name = s + a;
    *name_len = b > a ? b - a : 0;
    return 1;
}

/* A backslash, then only blanks, at the end. Returns the length before it. */
static int continues(const char *s, size_t n, size_t *keep)
{
    size_t end = n;
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    if (end == 0 || s[end - 1] != '\\')
        return 0;
    *keep = end - 1;
    return 1;
}

static int first_control(const char *s, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *at = i;
            return 1;
        }
    }
    return 0;
}

/* Checks a joined parameter line against Haraka's rule and, when it passes,
 * stores it in r->out with `:` in the key swapped for KEY_COLON. */
static int emit_param(struct reader *r, const char *s, size_t n, uint32_t line)
{
    size_t k = skip_blanks(s, n, 0), key_start = k;
    while (k < n && is_key_char((unsigned char)s[k]))
        k++;
    size_t key_end = k;
    k = skip_blanks(s, n, k);
    if (key_end == key_start || (k < n && s[k] != '=') || s[key_start] == '[') {
        size_t col = key_end == key_start || s[key_start] == '[' ? key_start : k;
        diag_add(r->diags, r->file, line, (uint32_t)col + 1, RELAY_ERROR,
                 "ini-invalid-line",
                 "not a `key = value` line (a key is letters, digits and "
                 "_ @ : . + - / [ ]); line ignored");
        return 0;
    }
    r->out.len = 0;
    if (buf_put(&r->out, s, n) || buf_put(&r->out, "\n", 1))
        return -1;
    for (size_t i = key_start; i < key_end; i++)
        if (r->out.data[i] == ':')
            r->out.data[i] = KEY_COLON;
    r->out_line = line;
    return 1;
}

/* Builds the next logical line into r->out. Returns 1, 0 at the end, -1 on
 * out of memory. */
static int next_logical(struct reader *r)
{
    const char *s;
    size_t n;
    while (next_physical(r, &s, &n)) {
        uint32_t line = r->next_line - 1;
        if (line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            n -= 3;
        }
        size_t i = skip_blanks(s, n, 0);
        if (i == n || s[i] == ';' || s[i] == '#')
            continue;
        size_t at;
        if (first_control(s, n, &at)) {
            diag_add(r->diags, r->file, line, (uint32_t)at + 1, RELAY_ERROR,
                     "ini-control-char",
                     "control character 0x%02x in line; line ignored",
                     (unsigned)(unsigned char)s[at]);
            continue;
        }
        const char *name;
        size_t name_len;
        if (is_section(s, n, &name, &name_len)) {
            r->out.len = 0;
            if (buf_put(&r->out, "[", 1) || buf_put(&r->out, name, name_len) ||
                buf_put(&r->out, "]\n", 2))
                return -1;
            r->out_line = line;
            return 1;
        }
        size_t keep;
        if (continues(s, n, &keep)) {
            if (r->pre.len == 0)
                r->pre_line = line;
            if (buf_put(&r->pre, s, keep))
                return -1;
            continue;
        }
        int got;
        if (r->pre.len) {
            if (buf_put(&r->pre, s, n))
                return -1;
            got = emit_param(r, r->pre.data, r->pre.len, r->pre_line);
            r->pre.len = 0;
        } else {
            got = emit_param(r, s, n, line);
        }
        if (got)
            return got;
    }
    if (r->pre.len) {
        diag_add(r->diags, r->file, r->pre_line, 0, RELAY_ERROR,
                 "ini-dangling-continuation",
                 "line ends in a backslash but no line follows; ignored");
        r->pre.len = 0;
    }
    return 0;
}

/* fgets-style reader that inih calls. */
static char *feed(char *str, int num, void *stream)
{
    struct reader *r = stream;
    if (num < 2 || r->stopped)
        return NULL;
    if (r->out_pos >= r->out.len) {
        int got = next_logical(r);
        if (got <= 0) {
            if (got < 0)
                r->oom = 1;
            return NULL;
        }
        r->out_pos = 0;
    }
    size_t room = (size_t)num - 1, k = 0;
    while (k < room && r->out_pos < r->out.len) {
        char c = r->out.data[r->out_pos++];
        str[k++] = c;
        if (c == '\n')
            break;
    }
    str[k] = '\0';
    return str;
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value, int lineno)
{
    (void)lineno; /* inih counts logical lines; the reader knows the real one */
    struct reader *r = user;
    if (r->stopped)
        return 0;
    char *key = NULL;
    if (name) {
        key = dup_range(name, strlen(name));
        if (!key) {
            r->oom = r->stopped = 1;
            return 0;
        }
        for (char *c = key; *c; c++)
            if (*c == KEY_COLON)
                *c = ':';
    }
    /* inih names the part before any header "" as well as a `[]` header;
     * Haraka calls the first one "main". */
    if (!name)
        r->saw_header = 1;
    int ok = r->fn(r->user, section[0] ? section : (r->saw_header ? "" : "main"),
                   key, value, r->out_line);
    free(key);
    if (!ok)
        r->oom = r->stopped = 1;
    return ok;
}

int ini_text_parse(const char *text, size_t len, enum relay_file file,
                   struct diag_list *diags, ini_entry_fn fn, void *user)
{
    struct reader r = {0};
    r.p = text;
    r.end = text + len;
    r.file = file;
    r.diags = diags;
    r.next_line = 1;
    r.fn = fn;
    r.user = user;
    int rc = ini_parse_stream(feed, &r, on_entry, &r);
    free(r.pre.data);
    free(r.out.data);
    if (rc == -2 || r.oom)
        return -1;
    /* Every line inih could not split was already refused by the reader, so
     * rc > 0 would be a disagreement between the two: report it, never hide. */
    if (rc > 0)
        diag_add(diags, file, r.out_line, 0, RELAY_ERROR, "ini-invalid-line",
                 "line could not be read");
    return 0;
}

static int word_in(const char *value, const char *const *words)
{
    if (!value)
        return 0;
    for (; *words; words++) {
        const char *a = value, *b = *words;
        while (*a && *b && ascii_lower((unsigned char)*a) == *b)
            a++, b++;
        if (!*a && !*b)
            return 1;
    }
    return 0;
}

int ini_is_truth(const char *value)
{
    static const char *const truth[] = {"true", "yes", "ok", "enabled", "on", "1", NULL};
    return word_in(value, truth);
}

int ini_is_false_word(const char *value)
{
    static const char *const no[] = {"false", "no", "disabled", "off", "0", NULL};
    return word_in(value, no);
}

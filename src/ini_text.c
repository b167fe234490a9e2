/*
 * ini_text.c - INI text read the way Haraka's own config loader reads it.
 *
 * For: settings.c (relay.ini) and domains.c (relay_dest_domains.ini); the
 * whitespace helpers also for acl.c.
 *
 * inih does the splitting of `[section]` and `key = value` lines.  What inih
 * cannot be configured to do is done here, in the line reader that feeds it
 * (the rules are haraka-config's lib/readers/ini.js and lib/regex.js):
 *   - "whitespace" is JavaScript's \s: tab, LF, VT, FF, CR, space, U+00A0,
 *     U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and
 *     U+FEFF (a BOM is whitespace wherever it stands), as UTF-8;
 *   - lines end at CRLF, CR or LF;
 *   - comment lines (first non-blank is ; or #, and no U+2028/U+2029 after
 *     it: JavaScript's `.` does not match those) and blank lines are skipped;
 *   - a section header is `[ name ]` with only whitespace around; the name
 *     is trimmed;
 *   - a line ending in a backslash (only spaces or tabs may follow it) is
 *     joined with the next line that is not a comment, blank or section
 *     header;
 *   - a parameter line is a key of letters, digits and _ @ : . + - / [ ]
 *     then optionally `= value`: only `=` separates (inih also splits at
 *     `:`, so a `:` in the key is handed to inih as \x1f and turned back);
 *     the value is trimmed and may not hold U+2028/U+2029;
 *   - the keys __proto__, constructor and prototype (also as `name[]`) are
 *     ignored, as Haraka ignores them;
 *   - no inline comments; lines of any length.
 * inih is handed each line already split and trimmed, so its own (ASCII)
 * trimming has nothing left to do.
 *
 * A line relay-wasm cannot read the way Haraka does is reported, and what
 * it may mean is never allowed to widen anything.  Every entry goes to the
 * caller with a `doubt` flag: a doubtful entry may or may not be what
 * Haraka reads (the caller lets it narrow only: turn a switch off, refuse a
 * domain).  Doubtful are:
 *   - an entry whose value holds a control character (C0 but tab, DEL, C1;
 *     NUL included, handed on as \x01): Haraka keeps the character, so the
 *     value is no truth word and no JSON it would take (error
 *     ini-control-char);
 *   - the entries after a line that starts with `[` but is no section
 *     header (`[old] junk`, `[x]\x01`, `[relay]=1`): the line ends the
 *     section before it, and the entries up to the next header stand in no
 *     section the caller reads, yet are handed on, as doubtful, in the
 *     section before (Haraka reads them there);
 *   - when a joined line (continuation) is refused or doubtful, the lines
 *     after its first one are read again, as Haraka reads the file without
 *     that first line, with their diagnostics suppressed (one level only).
 * Diagnostics name the first physical line of a joined line.
 *
 * The fast path.  Nearly every line of a big file is `key = value` in
 * printable ASCII, outside any joined line, in no doubt.  Such a line
 * (fast_param) is handed to the caller directly, with inih's current
 * section, instead of being copied into a logical line that inih splits
 * again: the same key, value, section, line and doubt that inih would
 * hand on, with `at` saying where key and value stand in the text.  Every
 * other line, and every line while a joined line is pending, read again or
 * in doubt, goes the general way.  test/c/test_fast.c checks the two
 * agree.
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
    const char *pre_rest;   /* where the line after pre_line starts */
    struct line_buf out;    /* the logical line being handed to inih */
    size_t out_pos;
    uint32_t out_line;      /* physical line the logical line started on */
    int out_doubt;          /* the entry in out is doubtful */
    int limbo;              /* after a line that starts with `[` but is no header */
    /* read again: lines reread_line..reread_until, from reread_p */
    int reread_pending, rereading;
    const char *reread_p;
    uint32_t reread_line, reread_until;
    int oom;
    /* handler side */
    ini_entry_fn fn;
    void *user;
    int stopped;
    int saw_header; /* a section header was read */
    const char *section; /* inih's current section (its own buffer), or NULL */
    int clean; /* the last physical line is printable ASCII only */
    struct line_buf fast; /* key and value of a fast-path line */
};

int relay_fast_paths = 1;

/* Room for n more bytes and a NUL (and one to spare). */
static int buf_reserve(struct line_buf *b, size_t n)
{
    if (b->len + n + 2 > b->cap) {
        char *grown = grow_array(b->data, &b->cap, b->len + n + 2, 1, 256);
        if (!grown)
            return -1;
        b->data = grown;
    }
    return 0;
}

static int buf_put(struct line_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

size_t js_space_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned char c = u[0];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    if (c < 0x80)
        return 0;
    if (c == 0xC2)
        return n >= 2 && u[1] == 0xA0 ? 2 : 0; /* U+00A0 */
    if (n < 3)
        return 0;
    if (c == 0xE1)
        return u[1] == 0x9A && u[2] == 0x80 ? 3 : 0; /* U+1680 */
    if (c == 0xE2 && u[1] == 0x80) /* U+2000-U+200A, U+2028, U+2029, U+202F */
        return (u[2] >= 0x80 && u[2] <= 0x8A) || u[2] == 0xA8 || u[2] == 0xA9 ||
               u[2] == 0xAF ? 3 : 0;
    if (c == 0xE2)
        return u[1] == 0x81 && u[2] == 0x9F ? 3 : 0; /* U+205F */
    if (c == 0xE3)
        return u[1] == 0x80 && u[2] == 0x80 ? 3 : 0; /* U+3000 */
    if (c == 0xEF)
        return u[1] == 0xBB && u[2] == 0xBF ? 3 : 0; /* U+FEFF */
    return 0;
}

size_t js_space_before(const char *s, size_t n)
{
    /* The first byte of each sequence is a lead byte, never a continuation
     * byte, so matching from the end agrees with a UTF-8 decoder. */
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (js_space_at(s + n - k, k) == k)
            return k;
    return 0;
}

size_t js_skip_space(const char *s, size_t n, size_t i)
{
    size_t k;
    while (i < n && (k = js_space_at(s + i, n - i)) != 0)
        i += k;
    return i;
}

size_t js_trim_end(const char *s, size_t from, size_t n)
{
    size_t k;
    while (n > from && (k = js_space_before(s + from, n - from)) != 0)
        n -= k;
    return n;
}

/* U+2028 or U+2029: JavaScript's `.` does not match them. */
static int has_line_sep(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if ((unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
            return 1;
    return 0;
}

/* A control character: C0 but tab, DEL, or C1 (U+0080-U+009F as UTF-8).
 * Returns its offset or n. */
static size_t control_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f ||
            (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9F))
            return i;
    }
    return n;
}

static int is_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("_@:.+-/[]", c) != NULL);
}

/* Next physical line as [*s, *s + *n), without its line end (text.c's
 * reader, shared with acl.c).  r->clean: the line is printable ASCII only
 * (0x20-0x7e), which lets fast_param skip its own scan. */
static int next_physical(struct reader *r, const char **s, size_t *n)
{
    if (!text_next_line(&r->p, r->end, s, n, &r->clean))
        return 0;
    r->next_line++;
    return 1;
}

/* `[ name ]` with only whitespace around: the trimmed name. */
static int is_section(const char *s, size_t n, const char **name, size_t *name_len)
{
    size_t i = js_skip_space(s, n, 0), end = js_trim_end(s, i, n);
    if (i >= end || s[i] != '[' || s[end - 1] != ']' || end - i < 2)
        return 0;
    if (memchr(s + i + 1, ']', end - 1 - (i + 1)))
        return 0;
    size_t a = js_skip_space(s, end - 1, i + 1), b = js_trim_end(s, a, end - 1);
    *name = s + a;
    *name_len = b - a;
    return 1;
}

/* A backslash, then only spaces or tabs, at the end. Returns the length
 * before it. */
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

/* Appends s with NUL turned into \x01: inih reads C strings, and a value or
 * name cut short at a NUL would be another value or name. */
static int put_no_nul(struct line_buf *b, const char *s, size_t n)
{
    size_t from = b->len;
    if (buf_put(b, s, n))
        return -1;
    for (size_t i = from; i < b->len; i++)
        if (b->data[i] == '\0')
            b->data[i] = '\x01';
    return 0;
}

static int is_unsafe(const char *k, size_t n)
{
    static const char *const unsafe[] = {"__proto__", "constructor", "prototype", NULL};
    for (const char *const *u = unsafe; *u; u++)
        if (strlen(*u) == n && memcmp(*u, k, n) == 0)
            return 1;
    return 0;
}

/* Haraka's UNSAFE_KEYS check: the key, or for `name[]` the key with its
 * first `[]` taken out. */
static int unsafe_key(const char *k, size_t n)
{
    if (n > 2 && k[n - 2] == '[' && k[n - 1] == ']') {
        for (size_t i = 0; i + 1 < n; i++)
            if (k[i] == '[' && k[i + 1] == ']') {
                char tmp[16];
                if (n - 2 >= sizeof tmp)
                    return 0;
                memcpy(tmp, k, i);
                memcpy(tmp + i, k + i + 2, n - i - 2);
                return is_unsafe(tmp, n - 2);
            }
    }
    return is_unsafe(k, n);
}

/* Reads a joined parameter line as Haraka's param rule does.  Returns 1
 * with the entry in r->out, 0 when the line gives no entry, -1 on out of
 * memory.  `group`: the line was joined from more than one physical line;
 * *refused is set when the module refuses or doubts the line. */
static int emit_param(struct reader *r, const char *s, size_t n, uint32_t line,
                      int group, int *refused)
{
    size_t k = js_skip_space(s, n, 0), key_start = k;
    while (k < n && is_key_char((unsigned char)s[k]))
        k++;
    size_t key_end = k;
    k = js_skip_space(s, n, k);
    int has_value = k < n && s[k] == '=';
    size_t v0 = has_value ? js_skip_space(s, n, k + 1) : n;
    size_t v1 = has_value ? js_trim_end(s, v0, n) : n;
    int valid = key_end > key_start && (k == n || has_value) && !has_line_sep(s + v0, v1 - v0);
    if (!valid || s[key_start] == '[') {
        size_t col = key_end == key_start || s[key_start] == '[' ? key_start
                   : k < n && !has_value ? k : v0;
        int header_like = key_start < n && s[key_start] == '[' && !group && !r->rereading;
        size_t ctl = control_at(s, n);
        /* an invisible character is the likely cause: name it */
        const char *code = ctl < n ? "ini-control-char" : "ini-invalid-line";
        unsigned cc = ctl < n ? (unsigned)(unsigned char)s[ctl] : 0;
        *refused = 1;
        if (ctl < n)
            col = ctl;
        if (header_like) {
            r->limbo = 1;
            diag_add(r->diags, r->file, line, (uint32_t)col + 1, RELAY_ERROR, code,
                     "starts with '[' but is not a section header `[name]`%s; line "
                     "ignored, and it ends the section before it: the lines after it, up "
                     "to the next header, can only turn a switch off or refuse a domain",
                     ctl < n ? " (it holds a control character)" : "");
        } else if (ctl < n) {
            diag_add(r->diags, r->file, line, (uint32_t)col + 1, RELAY_ERROR, code,
                     "control character 0x%02x in line; line ignored", cc);
        } else {
            diag_add(r->diags, r->file, line, (uint32_t)col + 1, RELAY_ERROR, code,
                     "not a `key = value` line (a key is letters, digits and "
                     "_ @ : . + - / [ ]); line ignored");
        }
        return 0;
    }
    if (unsafe_key(s + key_start, key_end - key_start)) {
        diag_add(r->diags, r->file, line, (uint32_t)key_start + 1, RELAY_WARNING,
                 "ini-unsafe-key",
                 "'%.*s' is a key Haraka's config loader ignores (__proto__, constructor, "
                 "prototype); ignored", (int)(key_end - key_start), s + key_start);
        return 0;
    }
    size_t bad = control_at(s + v0, v1 - v0);
    r->out_doubt = r->limbo || r->rereading;
    if (bad < v1 - v0) {
        *refused = 1;
        r->out_doubt = 1;
        diag_add(r->diags, r->file, line, (uint32_t)(v0 + bad) + 1, RELAY_ERROR,
                 "ini-control-char",
                 "control character 0x%02x in the value; Haraka keeps it, so the value "
                 "is no truth word and no JSON: it can only turn a switch off or refuse a domain",
                 (unsigned)(unsigned char)s[v0 + bad]);
    }
    r->out.len = 0;
    if (buf_put(&r->out, s + key_start, key_end - key_start))
        return -1;
    for (size_t i = 0; i < r->out.len; i++)
        if (r->out.data[i] == ':')
            r->out.data[i] = KEY_COLON;
    if (has_value && (buf_put(&r->out, "=", 1) || put_no_nul(&r->out, s + v0, v1 - v0)))
        return -1;
    if (buf_put(&r->out, "\n", 1))
        return -1;
    r->out_line = line;
    return 1;
}

/* A key character, as is_key_char, without the strchr. */
static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= ':') || (c >= '@' && c <= 'Z') ||
           (c >= '-' && c <= '/') || c == '_' || c == '+' || c == '[' || c == ']';
}

/* The fast path (see the top): a physical line `key = value` in printable
 * ASCII (tab allowed), blanks being spaces and tabs, that does not end in a
 * backslash, whose key is not one Haraka ignores.  For such a line the
 * general way gives no diagnostic and hands on exactly this key and value,
 * trimmed, in no doubt.  Returns 1 when the line was handed on, 0 when it
 * must go the general way, -1 on out of memory or when the caller stops. */
static int fast_param(struct reader *r, const char *s, size_t n, uint32_t line)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t key_start = i;
    while (i < n && key_char((unsigned char)s[i]))
        i++;
    size_t key_end = i;
    if (key_end == key_start || s[key_start] == '[')
        return 0;
    for (size_t k = key_end; k < n && !r->clean; k++)
        if (((unsigned char)s[k] < 0x20 && s[k] != '\t') || (unsigned char)s[k] > 0x7e)
            return 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n || s[i] != '=')
        return 0;
    i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t v0 = i, v1 = n;
    while (v1 > v0 && (s[v1 - 1] == ' ' || s[v1 - 1] == '\t'))
        v1--;
    /* every key Haraka ignores starts with one of these */
    int maybe_unsafe = s[key_start] == '_' || s[key_start] == 'c' || s[key_start] == 'p';
    if ((v1 > v0 && s[v1 - 1] == '\\') ||
        (maybe_unsafe && unsafe_key(s + key_start, key_end - key_start)))
        return 0;
    size_t klen = key_end - key_start, vlen = v1 - v0;
    r->fast.len = 0;
    if (buf_reserve(&r->fast, klen + vlen + 2))
        return -1;
    char *key = r->fast.data;
    memcpy(key, s + key_start, klen);
    key[klen] = '\0';
    memcpy(key + klen + 1, s + v0, vlen);
    key[klen + 1 + vlen] = '\0';
    const char *section = r->section && r->section[0] ? r->section
                        : r->saw_header ? "" : "main";
    struct ini_at at = {s + key_start, s + v0};
    const char *value = key + klen + 1;
    if (!r->fn(r->user, section, key, value, line, 0, &at)) {
        r->oom = r->stopped = 1;
        return -1;
    }
    return 1;
}

/* Builds the next logical line into r->out. Returns 1, 0 at the end, -1 on
 * out of memory. */
static int next_logical(struct reader *r)
{
    const char *s;
    size_t n;
    for (;;) {
        if (r->rereading && r->next_line > r->reread_until) {
            r->rereading = 0;
            r->diags->quiet--;
        }
        if (r->reread_pending) {
            /* The lines after the first of a refused joined line, as Haraka
             * reads the file without that first line.  Its diagnostics were
             * given; these lines can only narrow. */
            r->reread_pending = 0;
            r->rereading = 1;
            r->diags->quiet++;
            r->p = r->reread_p;
            r->next_line = r->reread_line;
        }
        if (!next_physical(r, &s, &n))
            break;
        uint32_t line = r->next_line - 1;
        size_t i = js_skip_space(s, n, 0);
        if (i == n)
            continue;
        if ((s[i] == ';' || s[i] == '#') && !has_line_sep(s + i, n - i))
            continue;
        if (!r->pre.len && !r->rereading && !r->limbo && relay_fast_paths) {
            int fast = fast_param(r, s, n, line);
            if (fast < 0)
                return -1;
            if (fast)
                continue;
        }
        const char *name;
        size_t name_len;
        if (is_section(s, n, &name, &name_len)) {
            r->limbo = 0;
            r->out.len = 0;
            if (buf_put(&r->out, "[", 1) || put_no_nul(&r->out, name, name_len) ||
                buf_put(&r->out, "]\n", 2))
                return -1;
            r->out_line = line;
            r->out_doubt = 0;
            return 1;
        }
        size_t keep;
        if (continues(s, n, &keep)) {
            /* an empty part joins nothing ('' + line is the line) */
            if (r->pre.len == 0) {
                r->pre_line = line;
                r->pre_rest = r->p;
            }
            if (buf_put(&r->pre, s, keep))
                return -1;
            continue;
        }
        int got, refused = 0;
        if (r->pre.len) {
            if (buf_put(&r->pre, s, n))
                return -1;
            got = emit_param(r, r->pre.data, r->pre.len, r->pre_line, 1, &refused);
            if (refused && !r->rereading) {
                r->reread_pending = 1;
                r->reread_p = r->pre_rest;
                r->reread_line = r->pre_line + 1;
                r->reread_until = line;
            }
            r->pre.len = 0;
        } else {
            got = emit_param(r, s, n, line, 0, &refused);
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
    if (!name) {
        r->saw_header = 1;
        r->section = section; /* inih's buffer: the fast path reads it too */
    }
    int ok = r->fn(r->user, section[0] ? section : (r->saw_header ? "" : "main"),
                   key, value, r->out_line, name ? r->out_doubt : 0, NULL);
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
    if (r.rereading)
        diags->quiet--;
    free(r.pre.data);
    free(r.out.data);
    free(r.fast.data);
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

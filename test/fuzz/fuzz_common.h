/*
 * fuzz_common.h - shared by the libFuzzer targets in test/fuzz/.
 *
 *  - CHECK_OR_DIE: a property broken is a crash, so libFuzzer keeps the input;
 *  - check_diagnostics: what every diagnostic list must look like, whatever
 *    the input (file, line in range, kebab-case code, a message under 400
 *    bytes without control characters, sorted);
 *  - the reference model of relay_acl_allow: a slow, obviously correct
 *    matcher that shares no code with src/.  Addresses are parsed by the C
 *    library's inet_pton, every block is widened to 128 bits (IPv4 a.b.c.d/n
 *    is ::ffff:a.b.c.d/96+n) and put in a binary trie, one level per bit (one
 *    trie for IPv4 blocks, one for IPv6 ones); a client walks the trie bit by
 *    bit, and the deepest node on its path that ends a block gives the line.
 *    So every block of any text is kept: the checks hold at every size.
 *  - haraka-config's INI walk (lib/readers/ini.js, its regular expressions
 *    written out in C): the parameter lines Haraka reads, joined, with their
 *    section; and from it what relay.ini may switch on.
 *
 * The reference reads a line as README.md says relay_acl_allow is read:
 * lines end at CRLF, CR or LF; a UTF-8 BOM at the start of line 1 is
 * dropped; blanks (space, tab, VT, FF) around the entry are trimmed; a line
 * whose first non-blank is # or ; is a comment; from a # on is a comment;
 * an entry is ADDRESS or ADDRESS/PREFIX with PREFIX decimal, no leading zero,
 * at most 32 for dotted IPv4 and 128 for anything written with a colon.
 * A block "is IPv4" when it lies in ::ffff:0:0/96 with a prefix of 96 or
 * more; other blocks are IPv6 and never match IPv4 clients.  A client in
 * ::ffff:0:0/96 (written either way) is an IPv4 client.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "relay.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_OR_DIE(cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "\nproperty broken at %s:%d: %s\n  ", __FILE__,    \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Physical lines of a text as the module counts them (CRLF, CR, LF end a
 * line): the largest line number a diagnostic may name. */
static uint32_t fuzz_line_count(const uint8_t *s, size_t n)
{
    uint32_t lines = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            lines++;
        else if (s[i] == '\r') {
            lines++;
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        }
    }
    return lines;
}

/* The text cut as JavaScript's split(/\r\n|\r|\n/) cuts it, a piece per
 * call (what haraka-config reads a file into): from *at, the piece's start
 * and length; *at moves past its line end.  0 once every piece is given,
 * the last (maybe empty) one included. */
static int ref_next_piece(const uint8_t *text, size_t len, size_t *at, const char **s, size_t *n)
{
    size_t i = *at;
    if (i > len)
        return 0;
    size_t start = i;
    while (i < len && text[i] != '\n' && text[i] != '\r')
        i++;
    *s = (const char *)text + start;
    *n = i - start;
    *at = i + ((i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1);
    return 1;
}

static int fuzz_kebab(const char *code)
{
    if (!code || !*code || *code == '-')
        return 0;
    for (const char *c = code; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c == '-' && c[1] && c[1] != '-')))
            return 0;
    return 1;
}

/* lines[f]: physical lines of file f's text now in force. */
static size_t check_diagnostics(struct relay_config *cfg, const uint32_t lines[RELAY_FILE_COUNT])
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    CHECK_OR_DIE(n == 0 || d != NULL, "no array for %zu diagnostics", n);
    for (size_t i = 0; i < n; i++) {
        CHECK_OR_DIE((unsigned)d[i].file < RELAY_FILE_COUNT, "file %d", (int)d[i].file);
        CHECK_OR_DIE((unsigned)d[i].severity <= RELAY_INFO, "severity %d", (int)d[i].severity);
        CHECK_OR_DIE(fuzz_kebab(d[i].code), "code '%s'", d[i].code ? d[i].code : "(null)");
        CHECK_OR_DIE(d[i].message && d[i].message[0], "empty message for %s", d[i].code);
        CHECK_OR_DIE(strlen(d[i].message) < 400, "message of %zu bytes", strlen(d[i].message));
        for (const char *c = d[i].message; *c; c++)
            CHECK_OR_DIE((unsigned char)*c >= 0x20 && *c != 0x7f, "control character in '%s'",
                         d[i].message);
        CHECK_OR_DIE(d[i].line <= lines[d[i].file], "%s at line %u of a %u-line file",
                     d[i].code, (unsigned)d[i].line, (unsigned)lines[d[i].file]);
        if (i) {
            const struct relay_diagnostic *p = &d[i - 1];
            CHECK_OR_DIE(p->file < d[i].file || (p->file == d[i].file && p->line <= d[i].line),
                         "diagnostics out of order at %zu", i);
        }
    }
    return n;
}

/* ---- the reference model of relay_acl_allow ---------------------------- */

struct ref_block {
    uint8_t net[16];
    unsigned prefix; /* of the 128 bits */
    int v4;          /* an IPv4 block (see above) */
    uint32_t line;
};

static int ref_bit(const uint8_t a[16], unsigned i) { return (a[i / 8] >> (7 - i % 8)) & 1; }

static int ref_in_mapped(const uint8_t a[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, mapped, 12) == 0;
}

/* An address alone, as inet_pton reads it.  Returns 4 or 6 (how it was
 * written), 0 when it is not an address; out is the 128-bit form. */
static int ref_address(const char *s, size_t n, uint8_t out[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (memchr(buf, ':', n))
        return inet_pton(AF_INET6, buf, out) == 1 ? 6 : 0;
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) != 1)
        return 0;
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
    return 4;
}

/* Decimal, no sign, no leading zero, at most max. -1 when not. */
static long ref_prefix(const char *s, size_t n, unsigned max)
{
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= (long)max ? v : -1;
}

/* JavaScript's \s (what haraka-config's trim removes), from a code point. */
static int ref_js_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Decodes one well-formed UTF-8 sequence at s: its length, or 0. */
static size_t ref_utf8(const char *s, size_t n, uint32_t *cp)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t len = !n ? 0 : u[0] < 0x80 ? 1 : (u[0] & 0xe0) == 0xc0 ? 2 : (u[0] & 0xf0) == 0xe0 ? 3
               : (u[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n)
        return 0;
    uint32_t c = len == 1 ? u[0] : u[0] & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if ((u[k] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (u[k] & 0x3f);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Length of the whitespace character at the start / at the end of s, or 0. */
static size_t ref_blank_at(const char *s, size_t n)
{
    uint32_t c;
    size_t len = ref_utf8(s, n, &c);
    return len && ref_js_space(c) ? len : 0;
}

static size_t ref_blank_before(const char *s, size_t n)
{
    for (size_t k = 1; k <= 4 && k <= n; k++)
        if (ref_blank_at(s + n - k, k) == k)
            return k;
    return 0;
}

/* One trimmed entry to a block; 0 when the entry is not valid. */
static int ref_entry(const char *s, size_t n, uint32_t line, struct ref_block *b)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    int written = ref_address(s, alen, b->net);
    if (!written)
        return 0;
    unsigned max = written == 4 ? 32 : 128;
    long prefix = max;
    if (slash) {
        prefix = ref_prefix(slash + 1, n - alen - 1, max);
        if (prefix < 0)
            return 0;
    }
    b->prefix = (unsigned)prefix + (written == 4 ? 96 : 0);
    b->v4 = ref_in_mapped(b->net) && b->prefix >= 96;
    b->line = line;
    return 1;
}

/* Every block of a relay_acl_allow text, and the tries that answer for
 * them.  Node 0 is "none"; root[1] is the trie of IPv4 blocks, root[0] that
 * of IPv6 ones.  A node's line: the earliest line of a block that ends
 * there (0: none). */
struct ref_trie_node {
    uint32_t kid[2];
    uint32_t line;
};

struct ref_acl {
    struct ref_block *blocks;
    size_t count, cap;
    struct ref_trie_node *node;
    size_t nodes, node_cap;
    uint32_t root[2];
};

static void *ref_grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    CHECK_OR_DIE(q != NULL, "reference model: out of memory for %zu items", n);
    *cap = n;
    return q;
}

static uint32_t ref_new_node(struct ref_acl *acl)
{
    acl->node = ref_grow(acl->node, &acl->node_cap, acl->nodes + 1, sizeof *acl->node);
    memset(&acl->node[acl->nodes], 0, sizeof *acl->node);
    return (uint32_t)acl->nodes++;
}

static void ref_insert(struct ref_acl *acl, const struct ref_block *b)
{
    uint32_t at = acl->root[b->v4];
    for (unsigned i = 0; i < b->prefix; i++) {
        int bit = ref_bit(b->net, i);
        if (!acl->node[at].kid[bit]) {
            uint32_t k = ref_new_node(acl); /* may move acl->node */
            acl->node[at].kid[bit] = k;
        }
        at = acl->node[at].kid[bit];
    }
    if (!acl->node[at].line || b->line < acl->node[at].line)
        acl->node[at].line = b->line;
}

/* Reads a whole relay_acl_allow text. */
static void ref_acl_read(struct ref_acl *acl, const uint8_t *text, size_t len)
{
    if (!text) /* a missing part */
        text = (const uint8_t *)"", len = 0;
    memset(acl, 0, sizeof *acl);
    ref_new_node(acl); /* 0: none */
    acl->root[0] = ref_new_node(acl);
    acl->root[1] = ref_new_node(acl);
    size_t at = 0;
    uint32_t line = 0;
    const char *s;
    size_t n;
    while (ref_next_piece(text, len, &at, &s, &n)) {
        line++;
        /* haraka-config's 'list': whitespace is JavaScript's \s (a BOM too,
         * on any line), then 1.0.2 cuts at '#' and trims again */
        size_t k;
        while ((k = ref_blank_at(s, n)) != 0)
            s += k, n -= k;
        if (n == 0 || *s == '#' || *s == ';')
            continue;
        const char *hash = memchr(s, '#', n);
        if (hash)
            n = (size_t)(hash - s);
        while ((k = ref_blank_before(s, n)) != 0)
            n -= k;
        acl->blocks = ref_grow(acl->blocks, &acl->cap, acl->count + 1, sizeof *acl->blocks);
        if (ref_entry(s, n, line, &acl->blocks[acl->count])) {
            ref_insert(acl, &acl->blocks[acl->count]);
            acl->count++;
        }
    }
}

static void ref_acl_free(struct ref_acl *acl)
{
    free(acl->blocks);
    free(acl->node);
    memset(acl, 0, sizeof *acl);
}

/* The line of the longest-prefix block holding the client (the earliest
 * line among equal blocks), 0 when none does, -1 when the client is not an
 * address: a walk down the client's own trie, bit by bit. */
static long ref_match(const struct ref_acl *acl, const char *ip, size_t n)
{
    uint8_t a[16];
    if (!ref_address(ip, n, a))
        return -1;
    uint32_t at = acl->root[ref_in_mapped(a)];
    long best = acl->node[at].line;
    for (unsigned i = 0; i < 128 && at; i++) {
        at = acl->node[at].kid[ref_bit(a, i)];
        if (at && acl->node[at].line)
            best = acl->node[at].line;
    }
    return best;
}

/* Addresses at and around the edges of a block, as text a client could
 * send: the first and last address in it and the ones just outside, in
 * IPv4 notation for IPv4 blocks (and ::ffff: notation for the first).
 * Writes up to 5 NUL-terminated strings of 64 bytes; returns how many. */
static int ref_edges(const struct ref_block *b, char out[][64])
{
    uint8_t lo[16], hi[16], below[16], above[16];
    memcpy(lo, b->net, 16);
    for (unsigned i = b->prefix; i < 128; i++)
        lo[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
    memcpy(hi, lo, 16);
    for (unsigned i = b->prefix; i < 128; i++)
        hi[i / 8] |= (uint8_t)(0x80 >> (i % 8));
    memcpy(below, lo, 16);
    for (int i = 15; i >= 0 && below[i]-- == 0; i--)
        ;
    memcpy(above, hi, 16);
    for (int i = 15; i >= 0 && ++above[i] == 0; i--)
        ;
    const uint8_t *pick[4] = {lo, hi, below, above};
    int n = 0;
    for (int k = 0; k < 4; k++) {
        if (ref_in_mapped(pick[k]))
            inet_ntop(AF_INET, pick[k] + 12, out[n], 64);
        else
            inet_ntop(AF_INET6, pick[k], out[n], 64);
        n++;
    }
    if (ref_in_mapped(lo)) {
        char v4[32];
        inet_ntop(AF_INET, lo + 12, v4, sizeof v4);
        snprintf(out[n++], 64, "::ffff:%s", v4);
    }
    return n;
}

/* The module's answer for one client against the reference's: the module
 * may never let a client relay that the reference refuses, and (beyond
 * that safety property) both must agree on the line that matched and on
 * what is an address. */
static void check_client(const struct relay_config *cfg, const struct ref_acl *acl,
                         const char *ip, size_t n)
{
    uint32_t line = 0;
    int got = relay_acl_match(cfg, ip, n, &line);
    long want = ref_match(acl, ip, n);
    CHECK_OR_DIE(!(got == 1 && want <= 0),
                 "client '%.*s' relays by line %u but the reference model refuses it (%ld)",
                 (int)n, ip, (unsigned)line, want);
    CHECK_OR_DIE((got == -1) == (want == -1), "client '%.*s': module %d, reference %ld",
                 (int)n, ip, got, want);
    CHECK_OR_DIE(got != 1 || (long)line == want, "client '%.*s': module line %u, reference line %ld",
                 (int)n, ip, (unsigned)line, want);
    CHECK_OR_DIE(got != 0 || want == 0, "client '%.*s': module no match, reference line %ld",
                 (int)n, ip, want);
}

/* ---- haraka-config's INI walk ------------------------------------------
 * lib/readers/ini.js of haraka-config 1.7, in C: the text is split on CRLF,
 * CR and LF; a comment (/^\s*[;#].*$/) or blank (/^\s*$/) line is skipped,
 * also between the pieces of a joined line; a section header
 * (/^\s*\[([^\]]*)\]\s*$/) sets the section (its name trimmed); a line
 * ending in '\' and blanks or tabs (/\\[ \t]*$/) is kept, without them, to
 * be joined with the next; any other line, joined, is a parameter line
 * (/^\s*([\w@:._+\-/[\]]+)\s*(?:=\s*(.*?)\s*)?$/).  \s is JavaScript's
 * (ref_js_space).  One difference, on the wide side: `.` in JavaScript does
 * not match U+2028 or U+2029, so Haraka refuses a few lines this walk reads;
 * the walk may only find more parameters than Haraka, never fewer. */

struct ref_param {
    const char *section;
    size_t section_len;
    const char *key;
    size_t key_len;
    const char *value; /* NULL: no `=` */
    size_t value_len;
    uint32_t line; /* where the (joined) line starts */
};

static size_t ref_skip_blanks(const char *s, size_t n)
{
    size_t i = 0, k;
    while ((k = ref_blank_at(s + i, n - i)) != 0)
        i += k;
    return i;
}

static size_t ref_trim_end(const char *s, size_t n)
{
    size_t k;
    while ((k = ref_blank_before(s, n)) != 0)
        n -= k;
    return n;
}

static int ref_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("_@:.+-/[]", c));
}

/* Calls fn for every parameter line Haraka reads in the text. */
static void ref_ini_walk(const uint8_t *text, size_t len,
                         void (*fn)(void *user, const struct ref_param *p), void *user)
{
    if (!text) /* a missing part */
        text = (const uint8_t *)"", len = 0;
    char *pre = NULL; /* the pieces of a joined line so far */
    size_t pre_len = 0, pre_cap = 0;
    uint32_t pre_line = 0, line = 0;
    const char *section = "main";
    size_t section_len = 4;
    size_t at = 0;
    const char *s;
    size_t n;
    while (ref_next_piece(text, len, &at, &s, &n)) {
        line++;
        size_t lead = ref_skip_blanks(s, n);
        if (lead == n || s[lead] == ';' || s[lead] == '#')
            continue; /* blank or comment */
        size_t t = ref_trim_end(s, n);
        if (s[lead] == '[' && s[t - 1] == ']' && !memchr(s + lead + 1, ']', t - 1 - (lead + 1))) {
            const char *name = s + lead + 1;
            size_t nl = t - 1 - (lead + 1);
            size_t k = ref_skip_blanks(name, nl);
            section = name + k;
            section_len = ref_trim_end(name + k, nl - k);
            continue;
        }
        size_t c = n;
        while (c > 0 && (s[c - 1] == ' ' || s[c - 1] == '\t'))
            c--;
        if (c > 0 && s[c - 1] == '\\') {
            if (!pre_len)
                pre_line = line;
            pre = ref_grow(pre, &pre_cap, pre_len + c, 1);
            memcpy(pre + pre_len, s, c - 1);
            pre_len += c - 1;
            continue;
        }
        const char *full = s;
        size_t fn_len = n;
        uint32_t at = line;
        if (pre_len) {
            pre = ref_grow(pre, &pre_cap, pre_len + n + 1, 1);
            memcpy(pre + pre_len, s, n);
            full = pre;
            fn_len = pre_len + n;
            at = pre_line;
            pre_len = 0;
        }
        size_t k0 = ref_skip_blanks(full, fn_len), k1 = k0;
        while (k1 < fn_len && ref_key_char((unsigned char)full[k1]))
            k1++;
        if (k1 == k0)
            continue;
        size_t after = k1 + ref_skip_blanks(full + k1, fn_len - k1);
        struct ref_param p = {section, section_len, full + k0, k1 - k0, NULL, 0, at};
        if (after < fn_len) {
            if (full[after] != '=')
                continue;
            size_t v = after + 1 + ref_skip_blanks(full + after + 1, fn_len - after - 1);
            p.value = full + v;
            p.value_len = ref_trim_end(full + v, fn_len - v);
        }
        fn(user, &p);
    }
    free(pre);
}

static int ref_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(s, word, n) == 0;
}

static int ref_is_nocase(const char *s, size_t n, const char *word)
{
    if (n != strlen(word))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (c != word[i])
            return 0;
    }
    return 1;
}

/* haraka-config's truth words (/^(?:true|yes|ok|enabled|on|1)$/i) */
static int ref_truth(const char *s, size_t n)
{
    static const char *const words[] = {"true", "yes", "ok", "enabled", "on", "1"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (ref_is_nocase(s, n, words[i]))
            return 1;
    return 0;
}

static const char *const ref_switch_names[4] = {"acl", "force_routing", "dest_domains", "all"};

/* What Haraka's reading of relay.ini may switch on, and, for a "plain" text,
 * exactly what it switches on.  may_on: the bits some [relay] line sets to
 * a truth word (any case of the key, to be wide), plus acl, on by default.
 * Haraka's reading is at most that, and README says the module's is never
 * wider than Haraka's.  A plain text is printable ASCII (and tabs) without
 * '\', whose lines are blank, comments, `[relay]`, or `switch = word` with
 * one of the four switches after the first `[relay]`: then haraka-config
 * reads it whole (the later key wins) and the module must agree. */
struct ref_ini {
    unsigned may_on;
    int plain;
    unsigned bits; /* valid when plain */
};

static void ref_ini_param(void *user, const struct ref_param *p)
{
    struct ref_ini *r = user;
    if (!ref_is(p->section, p->section_len, "relay") || !p->value)
        return;
    for (unsigned b = 0; b < 4; b++)
        if (ref_is_nocase(p->key, p->key_len, ref_switch_names[b]) && ref_truth(p->value, p->value_len))
            r->may_on |= 1u << b;
}

static void ref_ini_read(struct ref_ini *r, const uint8_t *text, size_t len)
{
    if (!text) /* a missing part */
        text = (const uint8_t *)"", len = 0;
    r->may_on = RELAY_SET_ACL;
    r->bits = RELAY_SET_DEFAULTS;
    r->plain = 1;
    ref_ini_walk(text, len, ref_ini_param, r);
    int in_relay = 0;
    size_t at = 0;
    const char *s;
    size_t n;
    while (r->plain && ref_next_piece(text, len, &at, &s, &n)) {
        for (size_t k = 0; k < n; k++)
            if ((s[k] < 0x20 && s[k] != '\t') || (unsigned char)s[k] > 0x7e || s[k] == '\\')
                r->plain = 0;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!r->plain || n == 0 || *s == '#' || *s == ';')
            continue;
        if (ref_is(s, n, "[relay]")) {
            in_relay = 1;
            continue;
        }
        const char *eq = memchr(s, '=', n);
        if (!in_relay || !eq) {
            r->plain = 0;
            continue;
        }
        size_t kn = (size_t)(eq - s), vs = kn + 1;
        while (kn && (s[kn - 1] == ' ' || s[kn - 1] == '\t'))
            kn--;
        while (vs < n && (s[vs] == ' ' || s[vs] == '\t'))
            vs++;
        int which = -1;
        for (int b = 0; b < 4; b++)
            if (ref_is(s, kn, ref_switch_names[b]))
                which = b;
        for (size_t k = vs; k < n; k++)
            if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')))
                which = -1;
        if (which < 0) {
            r->plain = 0;
            continue;
        }
        if (ref_truth(s + vs, n - vs))
            r->bits |= 1u << which;
        else
            r->bits &= ~(1u << which);
    }
}

#endif

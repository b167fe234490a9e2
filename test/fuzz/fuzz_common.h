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
 *    is ::ffff:a.b.c.d/96+n), and a client is matched by comparing bits one
 *    at a time against every entry in turn.
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

/* Reads relay_acl_allow text into at most max blocks; returns how many. */
static size_t ref_parse(const uint8_t *text, size_t len, struct ref_block *out, size_t max)
{
    size_t count = 0, i = 0;
    uint32_t line = 0;
    while (i < len && count < max) {
        size_t start = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        size_t end = i;
        if (i < len)
            i += (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
        line++;
        const char *s = (const char *)text + start;
        size_t n = end - start;
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
        if (ref_entry(s, n, line, &out[count]))
            count++;
    }
    return count;
}

/* Every block that holds the client, the most specific first: returns the
 * line of the longest-prefix block holding it (the earliest line among
 * equal blocks), 0 when none does, -1 when the client is not an address. */
static long ref_match(const struct ref_block *blocks, size_t count, const char *ip, size_t n)
{
    uint8_t a[16];
    if (!ref_address(ip, n, a))
        return -1;
    int client_v4 = ref_in_mapped(a);
    long best_line = 0;
    int best_prefix = -1;
    for (size_t k = 0; k < count; k++) {
        const struct ref_block *b = &blocks[k];
        if (b->v4 != client_v4)
            continue;
        unsigned i = 0;
        while (i < b->prefix && ref_bit(a, i) == ref_bit(b->net, i))
            i++;
        if (i < b->prefix)
            continue;
        if ((int)b->prefix > best_prefix ||
            ((int)b->prefix == best_prefix && (long)b->line < best_line)) {
            best_prefix = (int)b->prefix;
            best_line = b->line;
        }
    }
    return best_line;
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
static void check_client(const struct relay_config *cfg, const struct ref_block *blocks,
                         size_t count, const char *ip, size_t n)
{
    uint32_t line = 0;
    int got = relay_acl_match(cfg, ip, n, &line);
    long want = ref_match(blocks, count, ip, n);
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

#endif

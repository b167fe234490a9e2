/*
 * text.c - small text and memory helpers that call nothing else of the core.
 *
 * For: every other file of src/ (the parsers acl.c, ini_text.c, domains.c
 * and settings.c, diag.c, config.c and exports.c).  They live at the bottom
 * of the layers so that a lower layer never has to call up into a higher
 * one for them (dup_range and ascii_lower used to live in config.c, the
 * top layer), and so that each job is written once:
 *   - dup_range, ascii_lower: copying and case-folding names;
 *   - grow_array: the one growable-array policy of the core;
 *   - json_quote: the one JSON string writer (routes, diagnostics);
 *   - text_next_line: the one reader of physical lines (relay_acl_allow
 *     and the two INI files end lines at CRLF, CR or LF alike).
 */
#include "core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *dup_range(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

void *grow_array(void *items, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return items;
    /* at least double, so n appends cost O(n) copying; jump straight to
     * `need` when that is more (a size known in advance, a long line) */
    size_t want = *cap == 0 ? first : *cap <= SIZE_MAX / 2 ? *cap * 2 : need;
    if (want < need)
        want = need;
    if (want > SIZE_MAX / size)
        return NULL;
    void *grown = realloc(items, want * size);
    if (grown)
        *cap = want;
    return grown;
}

size_t json_quote(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
#define PUT(ch) do { if (out) out[n] = (char)(ch); n++; } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT(*p);
        } else if (*p < 0x20 || *p == 0x7f) {
            /* DEL too: JSON would allow it raw, but a reader that prints the
             * text (a log, a terminal) should never get a control byte */
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[*p >> 4]);
            PUT(hex[*p & 15]);
        } else {
            PUT(*p);
        }
    }
    PUT('"');
#undef PUT
    return n;
}

/* Has the word a byte below 0x20, 0x7f, or 0x80 and up (the line end is
 * one)?  Exact: what borrows may add stands after a byte that has it. */
static int special_in(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t del = w ^ (0x7f * ones);
    return (((w - 0x20 * ones) & ~w) | w | ((del - ones) & ~del)) & high ? 1 : 0;
}

int text_next_line(const char **pos, const char *end, const char **s, size_t *n,
                   int *clean)
{
    const char *start = *pos, *q = *pos;
    if (q >= end)
        return 0;
    int plain = 1;
    /* eight bytes a step while there is nothing but printable ASCII */
    for (;;) {
        uint64_t w;
        while ((size_t)(end - q) >= 8 && (memcpy(&w, q, 8), !special_in(w)))
            q += 8;
        size_t k = (size_t)(end - q) < 8 ? (size_t)(end - q) : 8;
        for (; k; k--, q++) {
            unsigned char c = (unsigned char)*q;
            if (c == '\n' || c == '\r')
                goto found;
            if (c < 0x20 || c > 0x7e)
                plain = 0;
        }
        if (q >= end)
            break;
    }
found:
    if (clean)
        *clean = plain;
    *s = start;
    *n = (size_t)(q - start);
    if (q < end)
        q += (*q == '\r' && q + 1 < end && q[1] == '\n') ? 2 : 1;
    *pos = q;
    return 1;
}

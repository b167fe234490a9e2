/*
 * addr.c - IPv4 and IPv6 address text to numbers.
 *
 * For: acl.c (entries of relay_acl_allow and client addresses) and
 * domains.c (IP literals in nexthop routes).
 *
 * Strict on purpose, because a lenient parser widens an ACL: IPv4 is four
 * decimal parts 0-255 without leading zeros (010.1.1.1 is octal to some
 * parsers and decimal to others, so it is refused, as are 10.1 and 0x0a..);
 * IPv6 is RFC 4291 text (one `::`, groups of 1-4 hex digits, an IPv4 tail),
 * without a zone id.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d, in any
 * notation) is IPv4: a client that arrives that way is the IPv4 host.
 */
#include "core.h"

#include <string.h>

static int parse_v4(const char *s, size_t len, uint32_t *out, const char **why)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.') {
                *why = i >= len ? "IPv4 address needs four parts" : "bad character in IPv4 address";
                return 0;
            }
            i++;
        }
        size_t start = i;
        unsigned n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 4)
            n = n * 10 + (unsigned)(s[i++] - '0');
        if (i == start) {
            *why = "empty or non-decimal part in IPv4 address";
            return 0;
        }
        if (i - start > 1 && s[start] == '0') {
            *why = "leading zero in IPv4 part (octal or decimal? refused)";
            return 0;
        }
        if (n > 255 || i - start > 3) {
            *why = "IPv4 part over 255";
            return 0;
        }
        v = v << 8 | n;
    }
    if (i != len) {
        *why = "bad character in IPv4 address";
        return 0;
    }
    *out = v;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_v6(const char *s, size_t len, uint16_t g[8], const char **why)
{
    int n = 0, gap = -1;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (len && s[0] == ':') {
        *why = "IPv6 address starts with a single ':'";
        return 0;
    }
    while (i < len) {
        if (n == 8) {
            *why = "IPv6 address has more than eight groups";
            return 0;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && hexval(s[i]) >= 0 && i - start < 5)
            v = v << 4 | (unsigned)hexval(s[i++]);
        if (i < len && s[i] == '.') { /* IPv4 tail */
            uint32_t v4;
            if (n > 6) {
                *why = "IPv4 tail after too many IPv6 groups";
                return 0;
            }
            if (!parse_v4(s + start, len - start, &v4, why))
                return 0;
            g[n++] = (uint16_t)(v4 >> 16);
            g[n++] = (uint16_t)v4;
            i = len;
            break;
        }
        if (i == start) {
            *why = s[i] == '%' ? "IPv6 zone id (%...) not allowed" : "bad character in IPv6 address";
            return 0;
        }
        if (i - start > 4) {
            *why = "IPv6 group longer than four hex digits";
            return 0;
        }
        g[n++] = (uint16_t)v;
        if (i == len)
            break;
        if (s[i] != ':') {
            *why = s[i] == '%' ? "IPv6 zone id (%...) not allowed" : "bad character in IPv6 address";
            return 0;
        }
        i++;
        if (i < len && s[i] == ':') {
            if (gap >= 0) {
                *why = "IPv6 address has more than one '::'";
                return 0;
            }
            gap = n;
            i++;
        } else if (i == len) {
            *why = "IPv6 address ends with a single ':'";
            return 0;
        }
    }
    if (gap >= 0) {
        if (n == 8) {
            *why = "'::' stands for no group in a full IPv6 address";
            return 0;
        }
        int move = n - gap;
        memmove(g + 8 - move, g + gap, (size_t)move * sizeof g[0]);
        memset(g + gap, 0, (size_t)(8 - n) * sizeof g[0]);
    } else if (n != 8) {
        *why = "IPv6 address has fewer than eight groups and no '::'";
        return 0;
    }
    return 1;
}

enum addr_family addr_parse(const char *s, size_t len, struct addr128 *out,
                            const char **why)
{
    const char *reason = "empty address";
    if (!why)
        why = &reason;
    *why = reason;
    if (len == 0)
        return ADDR_NONE;
    if (memchr(s, ':', len)) {
        uint16_t g[8];
        if (!parse_v6(s, len, g, why))
            return ADDR_NONE;
        out->hi = (uint64_t)g[0] << 48 | (uint64_t)g[1] << 32 | (uint64_t)g[2] << 16 | g[3];
        out->lo = (uint64_t)g[4] << 48 | (uint64_t)g[5] << 32 | (uint64_t)g[6] << 16 | g[7];
        if (out->hi == 0 && (out->lo >> 32) == 0xffff) {
            out->lo &= 0xffffffffu;
            return ADDR_V4;
        }
        return ADDR_V6;
    }
    uint32_t v4;
    if (!parse_v4(s, len, &v4, why))
        return ADDR_NONE;
    out->hi = 0;
    out->lo = v4;
    return ADDR_V4;
}

/* Clears the host bits of a: prefix counts from the top of `bits` bits
 * (32 for IPv4, held in the low word; 128 for IPv6). */
void addr_mask(struct addr128 *a, unsigned prefix, unsigned bits)
{
    if (bits == 32) {
        uint64_t keep = prefix == 0 ? 0 : (0xffffffffu << (32 - prefix)) & 0xffffffffu;
        a->lo &= keep;
        return;
    }
    if (prefix <= 64) {
        a->hi &= prefix == 0 ? 0 : ~0ULL << (64 - prefix);
        a->lo = 0;
    } else {
        a->lo &= prefix == 128 ? ~0ULL : ~0ULL << (128 - prefix);
    }
}

int addr_cmp(const struct addr128 *a, const struct addr128 *b)
{
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return 0;
}

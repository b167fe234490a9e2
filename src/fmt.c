/*
 * fmt.c - the little printf the core needs, and strtod for cJSON.
 *
 * For: diag.c, acl.c, exports.c (messages) and cJSON (numbers).
 *
 * Why not libc's: vsnprintf and strtod drag in the C library's floating
 * point formatting and scanning, which alone would push relay.wasm past its
 * 64 KiB budget.  The messages only ever need %s, %.*s, %.Ns, %u, %zu, %d, %x,
 * %02x, %04x and %%; config numbers are never used as numbers (a JSON value
 * is an object of strings), so cJSON only needs to know where a number ends.
 */
#include "core.h"

#include <stdint.h>
#include <string.h>

struct sink {
    char *buf;
    size_t size, len;
};

static void put(struct sink *k, char c)
{
    if (k->len + 1 < k->size)
        k->buf[k->len] = c;
    k->len++;
}

static void put_uint(struct sink *k, uint64_t v, unsigned base, int width)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        put(k, '0');
    while (n)
        put(k, digits[--n]);
}

size_t fmt_v(char *buf, size_t size, const char *f, va_list ap)
{
    struct sink k = {buf, size, 0};
    for (; *f; f++) {
        if (*f != '%') {
            put(&k, *f);
            continue;
        }
        f++;
        int width = 0, precision = -1;
        if (*f == '0')
            f++;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        if (*f == '.' && f[1] == '*') {
            precision = va_arg(ap, int);
            f += 2;
        } else if (*f == '.') {
            for (precision = 0, f++; *f >= '0' && *f <= '9'; f++)
                precision = precision * 10 + (*f - '0');
        }
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            /* the bound first: a %.*s argument need not end in a NUL */
            for (int i = 0; (precision < 0 || i < precision) && s[i]; i++)
                put(&k, s[i]);
            break;
        }
        case 'u':
            put_uint(&k, va_arg(ap, unsigned), 10, width);
            break;
        case 'd': {
            int v = va_arg(ap, int);
            if (v < 0)
                put(&k, '-');
            put_uint(&k, v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v, 10, width);
            break;
        }
        case 'x':
            put_uint(&k, va_arg(ap, unsigned), 16, width);
            break;
        case 'z':
            f++; /* %zu */
            put_uint(&k, va_arg(ap, size_t), 10, width);
            break;
        case '%':
            put(&k, '%');
            break;
        default: /* not used by the core; show it rather than guess */
            put(&k, '%');
            if (*f)
                put(&k, *f);
            else
                f--;
        }
    }
    if (size)
        buf[k.len < size ? k.len : size - 1] = '\0';
    return k.len;
}

size_t fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t n = fmt_v(buf, size, f, ap);
    va_end(ap);
    return n;
}

/* cJSON is compiled with -Dstrtod=relay_strtod.  Reads a JSON number and
 * returns an approximation of it (exact for integers below 2^53). */
double relay_strtod(const char *s, char **end)
{
    const char *p = s;
    double v = 0, scale = 1;
    int neg = 0, exp = 0, eneg = 0, digits = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        v = v * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            v += (*p - '0') * (scale /= 10);
    if (!digits) {
        if (end)
            *end = (char *)s;
        return 0;
    }
    if ((*p == 'e' || *p == 'E') &&
        ((p[1] >= '0' && p[1] <= '9') ||
         ((p[1] == '+' || p[1] == '-') && p[2] >= '0' && p[2] <= '9'))) {
        p++;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++)
            if (exp < 400)
                exp = exp * 10 + (*p - '0');
        for (; exp > 0; exp--)
            v = eneg ? v / 10 : v * 10;
    }
    if (end)
        *end = (char *)p;
    return neg ? -v : v;
}

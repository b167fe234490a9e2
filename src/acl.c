/*
 * acl.c - relay_acl_allow: which client addresses may relay.
 *
 * For: config.c (load) and the wasm boundary (lookup on every connection).
 *
 * The file is a Haraka 'list': one entry a line, trimmed of JavaScript's
 * whitespace (\s, as haraka-config's trim: NBSP, a BOM and the other
 * Unicode spaces too); blank lines and lines starting with # or ; are
 * skipped.  As in haraka-plugin-relay 1.0.2
 * anything from a `#` on is a comment ("192.0.2.1/32 # office").  An entry
 * is an address with an optional /prefix; a bare address is one host (/32,
 * /128 - never /32 for IPv6, the hole 1.0.2 has).  An entry that cannot be
 * read is reported and left out, so it never widens the list.
 *
 * Lookup cost does not grow with the list.  CIDR blocks are either nested
 * or disjoint, so the blocks are sorted by start address (wider first) and
 * each keeps the index of the nearest block that holds it.  To find a
 * client: binary search for the last block starting at or before it, then
 * climb parents until a block holds it (at most one step per prefix
 * length, in practice zero or one).  That block is the most specific match.
 * The starts are kept apart from the rest (line, parent, prefix) and, for
 * tables of 256 blocks or more, a 65,536-way index on the top 16 bits of
 * the address narrows the search to one bucket: a million entries cost a
 * few cache misses, not twenty.
 * IPv4 and IPv6 are separate tables: an IPv6 block never matches an IPv4
 * client, except blocks written as IPv4-mapped IPv6, which are IPv4.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* IPv6 blocks while the file is read, 20 bytes each: the address as four
 * 32-bit words (most significant first), then line << 8 | prefix.  (An
 * acl_block would take 24: with the text of the file, that is what decides
 * the peak memory of a big load.) */
struct block6 {
    uint32_t w[4];
    uint32_t line_prefix;
};

struct pending {
    struct block6 *items;
    size_t count, cap;
};

/* Entries are read up to this line: it fits the packed forms of both families. */
#define MAX_LINE ((1u << 24) - 1)

/* IPv4 blocks while the file is read, one 64-bit sort key each:
 * start << 32 | prefix << 26 | line.  Sorting the keys sorts by start, then
 * prefix (wider first), then line, and the key is all a block needs. */
struct keys {
    uint64_t *items;
    size_t count, cap;
};

#define KEY_LINE_BITS 26
#define KEY_MAX_LINE ((1u << KEY_LINE_BITS) - 1)

static uint64_t key_of(uint32_t start, unsigned prefix, uint32_t line)
{
    return (uint64_t)start << 32 | (uint64_t)prefix << KEY_LINE_BITS | line;
}

static int push_key(struct keys *k, uint64_t key)
{
    if (k->count == k->cap) {
        uint64_t *grown = grow_array(k->items, &k->cap, k->count + 1, sizeof *grown, 64);
        if (!grown)
            return -1;
        k->items = grown;
    }
    k->items[k->count++] = key;
    return 0;
}

/* LSD radix sort, 16 bits a pass: a million keys in a few passes over
 * memory, where qsort would make twenty million comparisons.  Returns -1
 * when the scratch array cannot be had (the caller falls back to qsort). */
static int radix_sort(uint64_t *a, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof *tmp);
    uint32_t *count = malloc(65536 * sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -1;
    }
    uint64_t *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xffff]++;
        if (count[(src[0] >> shift) & 0xffff] == n)
            continue; /* every key has this digit: the pass would change nothing */
        uint32_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            uint32_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(tmp);
    free(count);
    return 0;
}

static int key_order(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static int push(struct pending *p, const struct acl_block *b)
{
    if (p->count == p->cap) {
        /* sized from a count of the lines first, so this rarely runs */
        struct block6 *grown = grow_array(p->items, &p->cap, p->count + 1, sizeof *grown, 64);
        if (!grown)
            return -1;
        p->items = grown;
    }
    struct block6 *o = &p->items[p->count++];
    o->w[0] = (uint32_t)(b->start.hi >> 32);
    o->w[1] = (uint32_t)b->start.hi;
    o->w[2] = (uint32_t)(b->start.lo >> 32);
    o->w[3] = (uint32_t)b->start.lo;
    o->line_prefix = b->line << 8 | b->prefix;
    return 0;
}

static void format_block(char *out, size_t size, const struct acl_block *b,
                         unsigned bits)
{
    /* Only for messages: the network address in plain notation. */
    char *o = out;
    size_t left = size;
    if (bits == 32) {
        uint32_t v = (uint32_t)b->start.lo;
        fmt(o, left, "%u.%u.%u.%u/%u", v >> 24, (v >> 16) & 255,
            (v >> 8) & 255, v & 255, (unsigned)b->prefix);
        return;
    }
    for (int i = 0; i < 8; i++) {
        uint64_t w = i < 4 ? b->start.hi : b->start.lo;
        unsigned g = (unsigned)(w >> (48 - 16 * (i % 4))) & 0xffff;
        size_t n = fmt(o, left, i ? ":%x" : "%x", g);
        if (n >= left)
            return;
        o += n;
        left -= n;
    }
    fmt(o, left, "/%u", (unsigned)b->prefix);
}

/* Reads one entry (already trimmed, comment cut off) at column col. */
static void read_entry(const char *s, size_t n, uint32_t line, uint32_t col,
                       struct acl *acl, struct keys *v4, struct pending *v6,
                       int *oom)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    struct addr128 a;
    const char *why;
    enum addr_family fam = addr_parse(s, alen, &a, &why);
    if (fam == ADDR_NONE) {
        diag_add(&acl->diags, RELAY_FILE_ACL, line, col, RELAY_ERROR,
                 "acl-bad-address", "'%.*s' is not an IP address: %s; entry ignored",
                 (int)(alen > 80 ? 80 : alen), s, why);
        return;
    }
    /* An address written as IPv4-mapped IPv6 counts its prefix in 128 bits. */
    int written_v6 = memchr(s, ':', alen) != NULL;
    unsigned bits = written_v6 ? 128 : 32, prefix = bits;
    if (slash) {
        const char *p = slash + 1;
        size_t plen = n - alen - 1, k = 0;
        unsigned v = 0;
        while (k < plen && k < 4 && p[k] >= '0' && p[k] <= '9')
            v = v * 10 + (unsigned)(p[k++] - '0');
        uint32_t pcol = col + (uint32_t)alen + 1;
        if (k == 0 || k != plen || (k > 1 && p[0] == '0') || v > bits) {
            const char *what = k == 0 ? "no prefix length after '/'"
                             : k != plen ? "text after the prefix length"
                             : v > bits ? "prefix length out of range"
                                        : "leading zero in prefix length";
            diag_add(&acl->diags, RELAY_FILE_ACL, line, k != plen && k ? pcol + (uint32_t)k : pcol,
                     RELAY_ERROR, "acl-bad-prefix",
                     "%s in '%.*s' (IPv%d takes /0 to /%u); entry ignored", what,
                     (int)(n > 80 ? 80 : n), s, bits == 32 ? 4 : 6, bits);
            return;
        }
        prefix = v;
    }
    struct acl_block b = {a, line, 0};
    if (fam == ADDR_V4 && written_v6) {
        if (prefix < 96) {
            /* ::ffff:0:0/95 and wider reach past the mapped range: an IPv6
             * block, matched by IPv6 clients only. */
            fam = ADDR_V6;
            b.start.hi = 0;
            b.start.lo = a.lo | 0xffff00000000ULL;
        } else {
            prefix -= 96;
            bits = 32;
        }
    }
    if (fam == ADDR_V6)
        bits = 128;
    b.prefix = (uint8_t)prefix;
    struct addr128 masked = b.start;
    addr_mask(&masked, prefix, bits);
    if (addr_cmp(&masked, &b.start) != 0) {
        char net[64];
        b.start = masked;
        format_block(net, sizeof net, &b, bits);
        diag_add(&acl->diags, RELAY_FILE_ACL, line, col, RELAY_WARNING,
                 "acl-host-bits", "'%.*s' has host bits set; it means %s",
                 (int)(n > 80 ? 80 : n), s, net);
    }
    b.start = masked;
    if (prefix == 0)
        diag_add(&acl->diags, RELAY_FILE_ACL, line, col, RELAY_WARNING,
                 "acl-whole-internet",
                 "'%.*s' lets every IPv%d address on the internet relay: an open relay",
                 (int)n, s, bits == 32 ? 4 : 6);
    else if (prefix < (bits == 32 ? 8u : 24u))
        diag_add(&acl->diags, RELAY_FILE_ACL, line, col, RELAY_WARNING,
                 "acl-wide-range",
                 "'%.*s' is a very wide range (/%u): every address in it may relay",
                 (int)n, s, prefix);
    if (line > MAX_LINE) {
        diag_add(&acl->diags, RELAY_FILE_ACL, line, col, RELAY_ERROR, "acl-too-many-lines",
                 "relay_acl_allow is read up to line %u; entry ignored", MAX_LINE);
        return;
    }
    if (bits == 32) {
        if (push_key(v4, key_of((uint32_t)b.start.lo, prefix, line)))
            *oom = 1;
    } else if (push(v6, &b)) {
        *oom = 1;
    }
}

static int block_order(const void *pa, const void *pb)
{
    const struct block6 *a = pa, *b = pb;
    for (int i = 0; i < 4; i++)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    unsigned pa8 = a->line_prefix & 255, pb8 = b->line_prefix & 255;
    if (pa8 != pb8)
        return pa8 < pb8 ? -1 : 1;
    return a->line_prefix < b->line_prefix ? -1 : a->line_prefix > b->line_prefix;
}

static int holds(const struct addr128 *start, unsigned prefix,
                 const struct addr128 *x, unsigned bits)
{
    struct addr128 m = *x;
    addr_mask(&m, prefix, bits);
    return addr_cmp(&m, start) == 0;
}

/* Top 16 bits of an address of the table's family: its bucket. */
static uint32_t bucket_of(const struct addr128 *a, unsigned bits)
{
    return bits == 32 ? (uint32_t)(a->lo >> 16) : (uint32_t)(a->hi >> 48);
}

#define BUCKETS 65536u
#define BUCKET_MIN_COUNT 256 /* below this a plain binary search is as quick */

/* The i-th sorted block, from IPv4 keys or IPv6 blocks. */
struct sorted {
    const uint64_t *keys;
    const struct block6 *blocks;
};

static struct acl_block sorted_at(const struct sorted *in, size_t i)
{
    if (in->blocks) {
        const struct block6 *p = &in->blocks[i];
        struct acl_block b = {{(uint64_t)p->w[0] << 32 | p->w[1], (uint64_t)p->w[2] << 32 | p->w[3]},
                              p->line_prefix >> 8, (uint8_t)(p->line_prefix & 255)};
        return b;
    }
    uint64_t k = in->keys[i];
    struct acl_block b = {{0, k >> 32}, (uint32_t)(k & KEY_MAX_LINE),
                          (uint8_t)((k >> KEY_LINE_BITS) & 63)};
    return b;
}

/* Drops repeats of sorted blocks (reporting them), links each block to its
 * parent and lays the table out for lookups.  -1 when memory ran out. */
static int finish_table(struct acl *acl, const struct sorted *in, size_t n,
                        unsigned bits, struct acl_table *t)
{
    memset(t, 0, sizeof *t);
    t->bits = bits;
    if (!n)
        return 0;
    t->info = malloc(n * sizeof *t->info);
    if (bits == 32)
        t->start32 = malloc(n * sizeof *t->start32);
    else
        t->start128 = malloc(n * sizeof *t->start128);
    if (n >= BUCKET_MIN_COUNT)
        t->bucket = malloc((BUCKETS + 1) * sizeof *t->bucket);
    if (!t->info || (bits == 32 ? !t->start32 : !t->start128) ||
        (n >= BUCKET_MIN_COUNT && !t->bucket))
        return -1;
    struct acl_block stack[130]; /* the chain of blocks holding the current one */
    int32_t stack_index[130];
    int depth = 0;
    uint32_t next_bucket = 0;
    size_t out = 0;
    struct acl_block prev = {{0, 0}, 0, 0};
    for (size_t i = 0; i < n; i++) {
        struct acl_block b = sorted_at(in, i);
        if (out && addr_cmp(&prev.start, &b.start) == 0 && prev.prefix == b.prefix) {
            diag_add(&acl->diags, RELAY_FILE_ACL, b.line, 0, RELAY_INFO, "acl-duplicate",
                     "same block as line %u", (unsigned)prev.line);
            continue;
        }
        prev = b;
        while (depth && !holds(&stack[depth - 1].start, stack[depth - 1].prefix, &b.start, bits))
            depth--;
        t->info[out].line = b.line;
        t->info[out].prefix = b.prefix;
        t->info[out].parent = depth ? stack_index[depth - 1] : -1;
        stack[depth] = b;
        stack_index[depth++] = (int32_t)out;
        if (bits == 32)
            t->start32[out] = (uint32_t)b.start.lo;
        else
            t->start128[out] = b.start;
        if (t->bucket)
            for (uint32_t k = bucket_of(&b.start, bits); next_bucket <= k; next_bucket++)
                t->bucket[next_bucket] = (uint32_t)out;
        out++;
    }
    if (t->bucket)
        for (; next_bucket <= BUCKETS; next_bucket++)
            t->bucket[next_bucket] = (uint32_t)out;
    t->count = out;
    return 0;
}

static void table_free(struct acl_table *t)
{
    free(t->start32);
    free(t->start128);
    free(t->info);
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

/* Lines that may hold an IPv4 entry and lines that may hold an IPv6 one
 * (a ':' in them), to size the arrays once instead of growing them. */
static void count_lines(const char *text, size_t len, size_t *v4, size_t *v6)
{
    const char *p = text, *end = text + len;
    *v4 = *v6 = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (memchr(p, ':', (size_t)(e - p)))
            ++*v6;
        else
            ++*v4;
        p = e + 1;
    }
}

int acl_build(struct acl *acl, const char *text, size_t len, char *owned)
{
    memset(acl, 0, sizeof *acl);
    struct keys v4 = {0};
    struct pending v6 = {0};
    int oom = 0;
    size_t lines4, lines6;
    count_lines(text, len, &lines4, &lines6);
    v4.items = lines4 ? malloc(lines4 * sizeof *v4.items) : NULL;
    v4.cap = v4.items ? lines4 : 0;
    v6.items = lines6 ? malloc(lines6 * sizeof *v6.items) : NULL;
    v6.cap = v6.items ? lines6 : 0;
    uint32_t line = 0;
    const char *p = text, *end = text + len, *s;
    size_t n;
    while (!oom && text_next_line(&p, end, &s, &n, NULL)) {
        const char *e = s + n;
        line++;
        const char *b = s + js_skip_space(s, (size_t)(e - s), 0);
        if (b == e || *b == '#' || *b == ';')
            continue;
        const char *hash = memchr(b, '#', (size_t)(e - b));
        if (hash)
            e = hash;
        e = b + js_trim_end(b, 0, (size_t)(e - b));
        read_entry(b, (size_t)(e - b), line, (uint32_t)(b - s) + 1, acl, &v4, &v6, &oom);
    }
    /* Everything needed is copied out of the text: give it back before
     * the tables are built. */
    free(owned);
    if (oom || acl->diags.oom) {
        free(v4.items);
        free(v6.items);
        acl_free(acl);
        return -1;
    }
    if (v4.count > 4096) { /* below this the counting arrays cost more than qsort */
        if (radix_sort(v4.items, v4.count))
            qsort(v4.items, v4.count, sizeof *v4.items, key_order);
    } else if (v4.count > 1) {
        qsort(v4.items, v4.count, sizeof *v4.items, key_order);
    }
    if (v6.count > 1)
        qsort(v6.items, v6.count, sizeof *v6.items, block_order);
    struct sorted in4 = {v4.items, NULL}, in6 = {NULL, v6.items};
    int rc = finish_table(acl, &in4, v4.count, 32, &acl->v4) |
             finish_table(acl, &in6, v6.count, 128, &acl->v6);
    free(v4.items);
    free(v6.items);
    if (rc || acl->diags.oom) {
        acl_free(acl);
        return -1;
    }
    return 0;
}

void acl_free(struct acl *acl)
{
    table_free(&acl->v4);
    table_free(&acl->v6);
    diag_clear(&acl->diags);
    memset(acl, 0, sizeof *acl);
}

/* Index of the last block starting at or before x in [lo, hi), or lo - 1. */
static ptrdiff_t last_at_or_before(const struct acl_table *t, const struct addr128 *x,
                                   size_t lo, size_t hi)
{
    if (t->bits == 32) {
        uint32_t v = (uint32_t)x->lo;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->start32[mid] <= v)
                lo = mid + 1;
            else
                hi = mid;
        }
    } else {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (addr_cmp(&t->start128[mid], x) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return (ptrdiff_t)lo - 1;
}

static const struct acl_info *table_find(const struct acl_table *t,
                                         const struct addr128 *x)
{
    if (!t->count)
        return NULL;
    size_t lo = 0, hi = t->count;
    if (t->bucket) {
        uint32_t k = bucket_of(x, t->bits);
        lo = t->bucket[k];
        hi = t->bucket[k + 1];
    }
    ptrdiff_t i = last_at_or_before(t, x, lo, hi);
    for (; i >= 0; i = t->info[i].parent) {
        struct addr128 start = t->bits == 32 ? (struct addr128){0, t->start32[i]} : t->start128[i];
        if (holds(&start, t->info[i].prefix, x, t->bits))
            return &t->info[i];
    }
    return NULL;
}

int acl_lookup(const struct acl *acl, const char *ip, size_t len, uint32_t *line)
{
    struct addr128 x;
    enum addr_family fam = addr_parse(ip, len, &x, NULL);
    if (fam == ADDR_NONE)
        return RELAY_ACL_NOT_ADDRESS;
    const struct acl_info *b = table_find(fam == ADDR_V4 ? &acl->v4 : &acl->v6, &x);
    if (!b)
        return RELAY_ACL_UNLISTED;
    if (line)
        *line = b->line;
    return RELAY_ACL_LISTED;
}

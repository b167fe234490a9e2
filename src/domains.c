/*
 * domains.c - relay_dest_domains.ini: what to do with mail for a domain,
 * and where to send it.
 *
 * For: config.c (load) and the wasm boundary (rcpt and get_mx lookups).
 *
 * [domains]
 * example.com = { "action": "accept", "nexthop": "192.0.2.25:2525" }
 *
 * Keys are domains, matched without regard to case; `any` is the route of
 * the domains without an entry, for force routing.  Values are JSON objects
 * read with cJSON when the file is loaded (haraka-plugin-relay 1.0.2 parsed
 * them at RCPT time and threw on bad JSON).  An entry that cannot be read
 * stays in the table marked invalid: its recipients are refused and its
 * mail is not routed anywhere, rather than the entry silently vanishing.
 * A nexthop that cannot be read marks the route only (route_invalid): the
 * action still decides the recipients, and the mail it would route is
 * deferred.
 * The entries are kept in one array, in the order of their first line,
 * and found through an index: open addressing with linear probing, sized
 * to a power of two at most half full, each slot the name's hash and the
 * entry's number, so a lookup is one hash, a probe or two that compare
 * hashes, and one comparison of names.
 *
 * Loading a big file (issue 12).  The common entry, `name = {"action":
 * "accept"}` with perhaps a "nexthop" string, on a line of printable ASCII,
 * is read by fast_entry without inih, json_strict or cJSON (see
 * ini_text.c for the line), and costs no allocation: the text of the file
 * is kept, and the entry's name and route point into it, cut in place with
 * a NUL (those lines are never read again).  Every other entry, and every
 * entry that gives a diagnostic, is read the general way, with what it
 * needs from malloc.  The table is sized once from the number of lines.
 * test/c/test_fast.c checks that both ways give the same entries and
 * diagnostics.
 */
#include "core.h"

#include "cJSON.h"

#include <stdlib.h>
#include <string.h>

/* Eight bytes in lower case at once (bytes of 0x80 and up are left as
 * they are, as ascii_lower leaves them): the high bit of each byte of
 * ge_a / gt_z says whether its low seven bits are at least 'A' / above 'Z'. */
static uint64_t lower8(uint64_t x)
{
    const uint64_t high = 0x8080808080808080ULL;
    uint64_t low7 = x & ~high;
    uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3fULL, gt_z = low7 + 0x2525252525252525ULL;
    return x | (ge_a & ~gt_z & ~x & high) >> 2;
}

/* The hash of the name in lower case, eight bytes a step. */
static uint32_t hash_name(const char *s, size_t len)
{
    const uint64_t k = 0xff51afd7ed558ccdULL;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ lower8(w)) * k;
        h ^= h >> 32;
    }
    if (i < len) {
        w = 0;
        for (size_t j = 0; i + j < len; j++)
            w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
        h = (h ^ lower8(w)) * k;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return (uint32_t)(h >> 32);
}

static int same_name(const char *stored, const char *s, size_t len)
{
    /* a NUL in s must not walk past the end of stored (ascii_lower written
     * out: a call for each byte would cost more than the comparison) */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (!stored[i] || (unsigned char)stored[i] != c)
            return 0;
    }
    return stored[len] == '\0';
}

/* The slot that holds the name, or the empty slot where it would go. */
static struct domain_slot *slot_for(const struct domains *d, const char *name,
                                    size_t len, uint32_t hash)
{
    size_t mask = d->cap - 1, i = hash >> d->shift;
    for (;; i = (i + 1) & mask) {
        struct domain_slot *slot = &d->index[i];
        if (!slot->entry || (slot->hash == hash &&
                             same_name(d->entries[slot->entry - 1].name, name, len)))
            return slot;
    }
}

/* An index of cap slots (a power of two) for the entries there are. */
static int reindex(struct domains *d, size_t cap)
{
    struct domain_slot *index = calloc(cap, sizeof *index);
    if (!index)
        return -1;
    unsigned shift = 32;
    for (size_t c = cap; c > 1; c >>= 1)
        shift--;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->index[i].entry)
            continue;
        size_t j = d->index[i].hash >> shift;
        while (index[j].entry)
            j = (j + 1) & (cap - 1);
        index[j] = d->index[i];
    }
    free(d->index);
    d->index = index;
    d->cap = cap;
    d->shift = shift;
    return 0;
}

/* Room for `want` entries: the array and an index at most half full. */
static int reserve(struct domains *d, size_t want)
{
    if (want > d->entries_cap) {
        /* first 1: a first reservation is exactly the lines counted */
        struct domain_entry *grown = grow_array(d->entries, &d->entries_cap, want, sizeof *grown, 1);
        if (!grown)
            return -1;
        d->entries = grown;
    }
    size_t cap = d->cap ? d->cap : 64;
    while (cap / 2 < want)
        cap *= 2;
    return cap != d->cap ? reindex(d, cap) : 0;
}

/* Lines in the text, to size the table once: the more of '\n' and '\r'
 * (CRLF, LF or CR files), counted eight bytes a step.  A file of mixed
 * line ends may have more; the table then grows. */
static size_t count_lines(const char *s, size_t n)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    size_t lf = 0, cr = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x, y;
        memcpy(&w, s + i, 8);
        x = w ^ ones * '\n'; /* a zero byte where a line feed was */
        y = w ^ ones * '\r';
        lf += (size_t)__builtin_popcountll(~(((x & ~high) + ~high) | x) & high);
        cr += (size_t)__builtin_popcountll(~(((y & ~high) + ~high) | y) & high);
    }
    for (; i < n; i++) {
        lf += s[i] == '\n';
        cr += s[i] == '\r';
    }
    return lf > cr ? lf : cr;
}

/* ---- building the index of a big file at once ----------------------- */

/* Inserting a million names one by one into an index of 16 MiB costs a
 * cache miss each, a third of the load.  So a big file is read first with
 * every entry appended in file order and its key (hash << 32 | number)
 * noted in the index's memory; the index is then built in one go: the keys
 * sorted by hash (radix, three passes) and placed in the order of their
 * first slot, the top bits of the hash, which is a walk along the index.
 * Two equal names are next to each other then.  Merging two entries of
 * one name must happen in file order, with its diagnostic between the
 * others (which of them are kept past DIAG_MAX depends on it), so when
 * there is one, the file is read again entry by entry (as a small file
 * is); the text is cut (see fast_entry) only once the index stands. */

/* A name's length (one in the text is not cut yet). */
static size_t name_len(const struct domain_entry *e)
{
    return e->borrowed & DOMAIN_NAME_IN_TEXT ? e->name_len : strlen(e->name);
}

/* keys[0..n) sorted by their top 32 bits into out; keys is used too. */
static void sort_keys(uint64_t *keys, uint64_t *out, size_t n)
{
    static size_t count[3][2048];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++)
        for (int pass = 0; pass < 3; pass++)
            count[pass][(keys[i] >> (32 + 11 * pass)) & 2047]++;
    uint64_t *from = keys, *to = out;
    for (int pass = 0; pass < 3; pass++) {
        size_t sum = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t c = count[pass][b];
            count[pass][b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[pass][(from[i] >> (32 + 11 * pass)) & 2047]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    /* three passes: the sorted keys are in out */
}

/* Builds the index of d->count entries whose keys are in the index's
 * memory.  Returns 0, 1 when two entries have the same name (the file must
 * be read entry by entry), -1 on out of memory. */
static int build_index(struct domains *d)
{
    size_t n = d->count, mask = d->cap - 1;
    uint64_t *keys = (uint64_t *)(void *)d->index, *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    sort_keys(keys, sorted, n);
    for (size_t i = 1; i < n; i++) {
        if (sorted[i] >> 32 != sorted[i - 1] >> 32)
            continue;
        /* equal hashes: compare with every earlier key of the same hash */
        for (size_t j = i; j-- > 0 && sorted[j] >> 32 == sorted[i] >> 32;) {
            const struct domain_entry *a = &d->entries[(uint32_t)sorted[i]];
            const struct domain_entry *b = &d->entries[(uint32_t)sorted[j]];
            size_t la = name_len(a);
            if (la == name_len(b) && memcmp(a->name, b->name, la) == 0) {
                free(sorted);
                return 1;
            }
        }
    }
    memset(d->index, 0, d->cap * sizeof *d->index);
    size_t next = 0; /* the slots before it are taken, from the walk on */
    for (size_t i = 0; i < n; i++) {
        uint32_t hash = (uint32_t)(sorted[i] >> 32);
        size_t j = hash >> d->shift;
        if (j < next)
            j = next;
        if (j <= mask) {
            next = j + 1;
        } else { /* past the end: on from the start, as a probe goes */
            for (j = 0; d->index[j].entry; j++)
                ;
        }
        d->index[j].hash = hash;
        d->index[j].entry = (uint32_t)sorted[i] + 1;
    }
    free(sorted);
    return 0;
}

const struct domain_entry *domains_find(const struct domains *d,
                                        const char *name, size_t len)
{
    if (!d->count)
        return NULL;
    const struct domain_slot *slot = slot_for(d, name, len, hash_name(name, len));
    return slot->entry ? &d->entries[slot->entry - 1] : NULL;
}

/* Subdomain keys (issue 14): `.example.com` is held under that name, with
 * its dot, in the same index as the exact keys.  The parents of
 * a.b.example.com, each with its leading dot, are the tails of the name
 * that start at a dot: .b.example.com, then .example.com, then .com, so
 * each is looked up where it stands in the name, without a copy, longest
 * first, and only when some subdomain key has as many labels
 * (suffix_labels): with keys of two labels only, one parent is looked up.
 * A name that starts with a dot is no recipient domain (Haraka refuses an
 * empty label): it matches nothing, not even the key of its own
 * spelling. */
static unsigned label_bit(size_t labels)
{
    return labels < 63 ? (unsigned)labels : 63;
}

const struct domain_entry *domains_match(const struct domains *d,
                                         const char *name, size_t len)
{
    if (!d->count || (len && name[0] == '.'))
        return NULL;
    const struct domain_entry *e = domains_find(d, name, len);
    if (e || !d->suffixes)
        return e;
    size_t labels = 0; /* of the parent at the next dot: the dots from it on */
    for (size_t i = 1; i < len; i++)
        labels += name[i] == '.';
    for (size_t i = 1; i < len; i++) {
        if (name[i] != '.')
            continue;
        if ((d->suffix_labels >> label_bit(labels) & 1) &&
            (e = domains_find(d, name + i, len - i)) != NULL)
            return e;
        labels--;
    }
    return NULL;
}

/* A subdomain key is in the table: lookups walk the parents of a name of
 * its length. */
static void count_suffix(struct domains *d, const char *name, size_t len)
{
    size_t labels = 0;
    for (size_t i = 0; i < len; i++)
        labels += name[i] == '.';
    d->suffixes++;
    d->suffix_labels |= 1ULL << label_bit(labels);
}

/* ---- nexthop forms, as haraka-net-utils' HarakaMx reads them ---------- */

static const char *check_port(const char *p, size_t n)
{
    if (n == 0)
        return "empty port after ':'";
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return "port is not a number";
        if (v < 100000)
            v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return "port out of range 1-65535 (Haraka would silently drop it)";
    return NULL;
}

static const char *check_hostname(const char *s, size_t n)
{
    struct addr128 a;
    if (n && s[n - 1] >= '0' && s[n - 1] <= '9' && memchr(s, '.', n)) {
        /* ends in a digit and has dots: must be an IPv4 address */
        const char *why;
        if (addr_parse(s, n, &a, &why) != ADDR_V4)
            return why;
        return NULL;
    }
    if (n == 0)
        return "no host";
    if (n > 253)
        return "host name longer than 253 characters";
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return "empty label in host name";
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return "bad character in host name";
        if (++label > 63)
            return "host name label longer than 63 characters";
    }
    return NULL;
}

/* host, host:port, IPv4[:port], IPv6, [IPv6], [IPv6]:port */
static const char *check_host_port(const char *s, size_t n)
{
    struct addr128 a;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return "'[' without ']'";
        size_t in = (size_t)(close - s) - 1, rest = n - in - 2;
        if (addr_parse(s + 1, in, &a, NULL) != ADDR_V6 &&
            !(memchr(s + 1, ':', in) && addr_parse(s + 1, in, &a, NULL) == ADDR_V4))
            return "not an IPv6 address inside [ ]";
        if (rest == 0)
            return NULL;
        if (close[1] != ':')
            return "text after ']'";
        return check_port(close + 2, rest - 1);
    }
    if (memchr(s, ':', n)) {
        const char *colon = s + n;
        while (colon > s && colon[-1] != ':')
            colon--;
        colon--; /* last ':' */
        if (memchr(s, ':', (size_t)(colon - s))) {
            /* more than one ':' - only a bare IPv6 literal may have that */
            const char *why;
            if (addr_parse(s, n, &a, &why) == ADDR_NONE)
                return why;
            return NULL;
        }
        const char *why = check_port(colon + 1, n - (size_t)(colon - s) - 1);
        if (why)
            return why;
        return check_hostname(s, (size_t)(colon - s));
    }
    return check_hostname(s, n);
}

/* A character a URL takes as it is in a user name or password: outbound
 * (WHATWG URL) percent-encodes every other one, so the server would be
 * sent something else than what is written. */
static int userinfo_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,%", c));
}

/* smtp://[user[:pass]@]host[:port][/], as outbound reads it: with
 * `new URL` (haraka-net-utils HarakaMx.fromUrl).  smtp: and lmtp: are not
 * special schemes, so the authority after // ends at the first '/', '?' or
 * '#' ('\' is an ordinary character), and the host follows the last '@'
 * in it.  A route whose host is not the one a reader sees, or whose
 * credentials would be sent otherwise than written, is refused, naming
 * the host outbound would use.  The message lives until the next call. */
/* The host as a message names it: at most 80 bytes, each one that is not
 * a host-name or address character shown as '?', so that no control or
 * bidi character or blank of the file reaches a log line (nor the text
 * the plugin hands outbound when it defers the route). */
static const char *shown_host(char *out, size_t cap, const char *host, size_t n)
{
    size_t k = 0;
    for (; k < n && k < 80 && k + 1 < cap; k++) {
        char c = host[k];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        out[k] = ok ? c : '?';
    }
    out[k] = '\0';
    return out;
}

static const char *check_url(const char *h, size_t hn)
{
    static char why[240];
    char name[84];
    size_t an = 0; /* the authority */
    while (an < hn && h[an] != '/' && h[an] != '?' && h[an] != '#')
        an++;
    const char *at = NULL;
    for (size_t i = 0; i < an; i++)
        if (h[i] == '@')
            at = h + i;
    const char *host = at ? at + 1 : h;
    size_t hostn = an - (size_t)(host - h), namen = hostn; /* namen: without the port */
    const char *end = hostn && host[0] == '[' ? memchr(host, ']', hostn) : NULL;
    if (end)
        namen = (size_t)(end - host) + 1;
    else if (hostn && host[0] != '[' && (end = memchr(host, ':', hostn)) != NULL)
        namen = (size_t)(end - host);
    if (an < hn && !(an + 1 == hn && h[an] == '/')) {
        fmt(why, sizeof why,
            "URL has a %s after the host: outbound would use %s; a route is "
            "scheme://[user:pass@]host[:port]",
            h[an] == '/' ? "path" : h[an] == '?' ? "query" : "fragment",
            shown_host(name, sizeof name, host, namen));
        return why;
    }
    if (at == h)
        return "empty user before '@'";
    int colons = 0;
    for (const char *p = h; at && p < at; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c == ':' && !colons++) || userinfo_char(c))
            continue;
        char what[16];
        if (c > 0x20 && c < 0x7f)
            fmt(what, sizeof what, "'%.1s'", p);
        else
            fmt(what, sizeof what, "byte 0x%02x", (unsigned)c);
        fmt(why, sizeof why,
            "the user name or password holds %s, which a URL does not take as written; "
            "outbound would use %s as the host",
            what, shown_host(name, sizeof name, host, namen));
        return why;
    }
    if (hostn && host[0] != '[') {
        const char *colon = memchr(host, ':', hostn);
        if (colon && memchr(colon + 1, ':', hostn - (size_t)(colon + 1 - host)))
            return "IPv6 host in a URL must be in [ ]";
    }
    return check_host_port(host, hostn);
}

const char *nexthop_check(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "empty nexthop";
    if (strstr(s, "mtp://")) {
        if (strncmp(s, "smtp://", 7) != 0 && strncmp(s, "lmtp://", 7) != 0)
            return "only smtp:// and lmtp:// URLs are routes";
        return check_url(s + 7, n - 7);
    }
    return check_host_port(s, n);
}

/* ---- the route as JSON text, handed to JS as it is ------------------ */

/* A string or an array of strings (already checked), as compact JSON
 * (json_quote, text.c: the strings as the diagnostics' are written). */
static size_t route_json(char *out, const cJSON *item)
{
    if (cJSON_IsString(item))
        return json_quote(out, item->valuestring);
    size_t n = 0;
    if (out)
        out[n] = '[';
    n++;
    for (const cJSON *h = item->child; h; h = h->next) {
        if (h != item->child) {
            if (out)
                out[n] = ',';
            n++;
        }
        n += json_quote(out ? out + n : NULL, h->valuestring);
    }
    if (out)
        out[n] = ']';
    return n + 1;
}

static char *route_text(const cJSON *item)
{
    size_t n = route_json(NULL, item);
    char *text = malloc(n + 1);
    if (text) {
        route_json(text, item);
        text[n] = '\0';
    }
    return text;
}

/* ---- loading --------------------------------------------------------- */

struct load {
    struct domains *d;
    int in_domains;
    uint32_t warned_section_line; /* last section warned about */
    int deferred; /* entries are appended and indexed at the end (see build_index) */
    int again;    /* deferred, but the file must be read entry by entry */
};

static void entry_free(struct domain_entry *e)
{
    if (!(e->borrowed & DOMAIN_NAME_IN_TEXT))
        free(e->name);
    if (!(e->borrowed & DOMAIN_HOP_IN_TEXT))
        free(e->nexthop);
}

/* cJSON decodes \u0000 into a NUL that ends its C string, so
 * "accept\u0000x" would read as "accept" (JSON.parse keeps the whole
 * string).  Finds that escape in valid JSON text. */
static int has_nul_escape(const char *s)
{
    int in_string = 0;
    for (; *s; s++) {
        if (*s == '"') {
            in_string = !in_string;
        } else if (in_string && *s == '\\') {
            if (s[1] == 'u' && strncmp(s + 2, "0000", 4) == 0)
                return 1;
            s++; /* the escaped character (valid JSON: never the end) */
        }
    }
    return 0;
}

/* cJSON parses a value, and cJSON_Delete frees it, by recursion: each level
 * of [ ] or { } costs stack, and relay.wasm has 64 KiB of it.  The build
 * sets CJSON_NESTING_LIMIT (CMakeLists.txt); a value nested deeper is
 * refused here, with its own diagnostic, before cJSON sees it. */
#if CJSON_NESTING_LIMIT > 128
#error "CJSON_NESTING_LIMIT must be set small (CMakeLists.txt): the module's stack is 64 KiB"
#endif
#define JSON_MAX_DEPTH CJSON_NESTING_LIMIT

/* Does the text open more than JSON_MAX_DEPTH [ or { at once, outside
 * strings?  As deep as cJSON would go, or deeper where the text is not
 * JSON (cJSON stops there); it does not recurse. */
static int too_deep(const char *s)
{
    unsigned depth = 0;
    int in_string = 0;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_string = 0;
        } else if (*s == '"') {
            in_string = 1;
        } else if (*s == '[' || *s == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return 1;
        } else if ((*s == ']' || *s == '}') && depth) {
            depth--;
        }
    }
    return 0;
}

/* ---- JSON exactly as JSON.parse takes it ---------------------------- */

/* cJSON is more lenient than JSON.parse, which 1.0.2 ran on every value
 * (and threw on, refusing the recipient): it takes numbers such as 01 and
 * 1., raw control characters inside strings and any byte up to a space as
 * blank.  A value that JSON.parse refuses must not be read here as a grant,
 * so every value is first checked against the JSON grammar (RFC 8259, as
 * JSON.parse reads it), without recursion.  Returns NULL when it is JSON,
 * else a reason, with *at the offending character. */
static const char *json_hex4(const char *p)
{
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return "bad \\u escape";
    }
    return NULL;
}

static const char *json_string_end(const char **pp)
{
    const char *p = *pp + 1; /* after the opening quote */
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0') {
            *pp = p;
            return "string without its closing quote";
        }
        if (c < 0x20) {
            *pp = p;
            return "control character inside a string";
        }
        if (c == '"') {
            *pp = p + 1;
            return NULL;
        }
        if (c == '\\') {
            char e = p[1];
            if (e == 'u') {
                const char *why = json_hex4(p + 2);
                if (why) {
                    *pp = p;
                    return why;
                }
                p += 6;
                continue;
            }
            if (!e || !strchr("\"\\/bfnrt", e)) {
                *pp = p;
                return "bad escape in a string";
            }
            p += 2;
            continue;
        }
        p++;
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *json_number_end(const char **pp)
{
    const char *p = *pp;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (is_digit(*p))
            p++;
    else
        goto bad;
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            goto bad;
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            goto bad;
        while (is_digit(*p))
            p++;
    }
    if (is_digit(*p))
        goto bad; /* 01 */
    *pp = p;
    return NULL;
bad:
    *pp = p;
    return "not a JSON number";
}

static const char *json_strict(const char *s, const char **at)
{
    enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, AFTER } state = VALUE;
    char open[JSON_MAX_DEPTH];
    int depth = 0;
    const char *p = s, *why = NULL;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        char c = *p;
        if (state == AFTER) {
            if (depth == 0) {
                if (c == '\0')
                    return NULL;
                why = "text after the value";
                break;
            }
            char top = open[depth - 1];
            if (c == ',') {
                state = top == '{' ? KEY : VALUE;
                p++;
            } else if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
                depth--;
                p++;
            } else {
                why = top == '{' ? "expected ',' or '}'" : "expected ',' or ']'";
                break;
            }
            continue;
        }
        if (state == COLON) {
            if (c != ':') {
                why = "expected ':'";
                break;
            }
            state = VALUE;
            p++;
            continue;
        }
        if (state == KEY || state == KEY_OR_CLOSE) {
            if (c == '}' && state == KEY_OR_CLOSE) {
                depth--;
                state = AFTER;
                p++;
                continue;
            }
            if (c != '"') {
                why = "expected a quoted key";
                break;
            }
            if ((why = json_string_end(&p)))
                break;
            state = COLON;
            continue;
        }
        /* VALUE or VALUE_OR_CLOSE */
        if (c == ']' && state == VALUE_OR_CLOSE) {
            depth--;
            state = AFTER;
            p++;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH) {
                why = "nested too deep";
                break;
            }
            open[depth++] = c;
            state = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
            p++;
            continue;
        }
        if (c == '"')
            why = json_string_end(&p);
        else if (c == '-' || is_digit(c))
            why = json_number_end(&p);
        else if (strncmp(p, "true", 4) == 0)
            p += 4;
        else if (strncmp(p, "false", 5) == 0)
            p += 5;
        else if (strncmp(p, "null", 4) == 0)
            p += 4;
        else
            why = c ? "not a JSON value" : "the value ends too soon";
        if (why)
            break;
        state = AFTER;
    }
    *at = p;
    return why;
}

/* Reads the JSON value into e; returns 0 when it is sound. */
static int read_value(struct domains *d, struct domain_entry *e, const char *key,
                      const char *value, uint32_t line)
{
    if (!value) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-no-value",
                 "'%.80s' has no value; expected a JSON object such as "
                 "{ \"action\": \"accept\" }; recipients refused", key);
        return -1;
    }
    if (too_deep(value)) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-too-deep",
                 "value of '%.80s' is nested deeper than %d levels of [ ] and { }; recipients refused",
                 key, JSON_MAX_DEPTH);
        return -1;
    }
    const char *bad_at = NULL, *not_json = json_strict(value, &bad_at);
    if (not_json) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-bad-json",
                 "value of '%.80s' is not valid JSON (%s, at character %zu); recipients refused",
                 key, not_json, (size_t)(bad_at - value) + 1);
        return -1;
    }
    const char *end = NULL;
    /* the length counts the NUL: cJSON then also refuses text after the value */
    cJSON *root = cJSON_ParseWithLengthOpts(value, strlen(value) + 1, &end, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= value && at <= value + strlen(value) ? (size_t)(at - value) : 0;
        /* no text of the value is quoted: it may hold a route's password */
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-bad-json",
                 "value of '%.80s' is not valid JSON (at character %zu); recipients refused",
                 key, off + 1);
        return -1;
    }
    int bad = 0;
    if (has_nul_escape(value)) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-nul-char",
                 "value of '%.80s' has \\u0000 in a string; recipients refused", key);
        cJSON_Delete(root);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-not-object",
                 "value of '%.80s' is JSON but not an object; recipients refused", key);
        cJSON_Delete(root);
        return -1;
    }
    e->action = RELAY_ACTION_NONE;
    for (cJSON *item = root->child; item; item = item->next) {
        const char *k = item->string ? item->string : "";
        if (strcmp(k, "action") == 0) {
            const char *a = cJSON_GetStringValue(item);
            if (a && strcmp(a, "accept") == 0)
                e->action = RELAY_ACTION_ACCEPT;
            else if (a && strcmp(a, "continue") == 0)
                e->action = RELAY_ACTION_CONTINUE;
            else if (a && strcmp(a, "deny") == 0)
                e->action = RELAY_ACTION_DENY;
            else {
                diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR,
                         "dest-bad-action",
                         "action of '%.80s' must be \"accept\", \"continue\" or \"deny\"; recipients refused",
                         key);
                bad = 1;
            }
        } else if (strcmp(k, "nexthop") == 0) {
            /* A route that cannot be read affects routing only: the action
             * still decides the recipients (as in 1.0.2, which read the
             * route only in get_mx), and the route is deferred whole, never
             * guessed.  A repeated key: the later one wins, as with
             * JSON.parse, but a route already found broken stays so. */
            if (!e->route_invalid) {
                free(e->nexthop);
                e->nexthop = NULL;
            }
            char why[320];
            why[0] = '\0';
            if (cJSON_IsString(item)) {
                const char *w = nexthop_check(item->valuestring);
                if (w)
                    fmt(why, sizeof why, "nexthop: %s", w);
            } else if (cJSON_IsArray(item)) {
                int n = cJSON_GetArraySize(item), i = 1;
                for (cJSON *h = item->child; h && !why[0]; h = h->next, i++) {
                    const char *w = cJSON_IsString(h) ? nexthop_check(h->valuestring) : "not a string";
                    if (w)
                        fmt(why, sizeof why, "nexthop element %d of %d: %s", i, n, w);
                }
                if (n == 0)
                    fmt(why, sizeof why, "nexthop is an empty array");
            } else {
                fmt(why, sizeof why, "nexthop must be a string such as \"host:port\" or an array of them");
            }
            if (why[0]) {
                /* an error with force_routing on, else a warning (config.c) */
                diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR,
                         "dest-bad-nexthop",
                         "'%.80s': %s; the route is not used (with force_routing on, "
                         "its mail is deferred); the action stands",
                         key, why);
                if (!e->route_invalid) {
                    /* nexthop holds why, for get_mx's log and relay-check */
                    for (char *c = why; *c; c++)
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                            *c = '?';
                    free(e->nexthop);
                    e->nexthop = dup_range(why, strlen(why));
                    if (!e->nexthop)
                        d->diags.oom = 1;
                    e->route_invalid = 1;
                }
            } else if (!e->route_invalid) {
                e->nexthop = route_text(item);
                if (!e->nexthop)
                    d->diags.oom = 1;
            }
        } else {
            diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_WARNING,
                     "dest-unknown-key",
                     "'%.80s' in the value of '%.80s' is not a known key (action, nexthop); ignored",
                     k, key);
        }
    }
    cJSON_Delete(root);
    return bad ? -1 : 0;
}

/* How far an action opens relaying: the lower, the narrower.  An entry with
 * no action refuses its recipients as an invalid one does. */
static int action_rank(uint8_t action)
{
    switch (action) {
    case RELAY_ACTION_DENY: return 0;
    case RELAY_ACTION_INVALID: return 1;
    case RELAY_ACTION_NONE: return 2;
    case RELAY_ACTION_CONTINUE: return 3;
    default: return 4; /* accept */
    }
}

static int same_route(const struct domain_entry *a, const struct domain_entry *b)
{
    if (a->route_invalid || b->route_invalid)
        return a->route_invalid == b->route_invalid;
    if (!a->nexthop || !b->nexthop)
        return a->nexthop == b->nexthop;
    return strcmp(a->nexthop, b->nexthop) == 0;
}

/* An entry that cannot be read and names no route of its own: the route it
 * meant is not known (config.c defers the mail of such an entry). */
static int route_unknown(const struct domain_entry *e)
{
    return e->action == RELAY_ACTION_INVALID && !e->nexthop && !e->route_invalid;
}

/* A key that names a domain already in the table (the same key again, or
 * the same name in another case).  haraka-config keeps the later of two
 * equal keys, and 1.0.2 never matched a key with upper case in it, so no
 * one reading of such a file is "the" reading: the narrowest action of the
 * two holds, and two different routes defer the domain's mail rather than
 * guess.  *later becomes the merged entry; the caller frees *earlier. */
static void merge_duplicate(struct domains *d, struct domain_entry *earlier,
                            struct domain_entry *later, const char *key)
{
    if (earlier->action == later->action && same_route(earlier, later)) {
        diag_add(&d->diags, RELAY_FILE_DOMAINS, later->line, 1, RELAY_WARNING, "ini-duplicate-key",
                 "'%.80s' is listed again (first on line %u) with the same meaning",
                 key, (unsigned)earlier->line);
        later->line = earlier->line;
        return;
    }
    /* one of the two cannot be read: its route is not known, so neither is
     * the domain's, whatever the other says (never a guess) */
    const struct domain_entry *unknown =
        route_unknown(earlier) != route_unknown(later) ? (route_unknown(earlier) ? earlier : later) : NULL;
    unsigned unknown_line = unknown ? (unsigned)unknown->line : 0; /* later->line changes below */
    int route_differs = unknown || !same_route(earlier, later);
    const struct domain_entry *narrow =
        action_rank(earlier->action) <= action_rank(later->action) ? earlier : later;
    diag_add(&d->diags, RELAY_FILE_DOMAINS, later->line, 1, RELAY_ERROR, "dest-conflicting-key",
             "'%.80s' names the same domain as line %u with another meaning; the narrower "
             "holds (action of line %u%s)",
             key, (unsigned)earlier->line, (unsigned)narrow->line,
             unknown ? ", and the route of the line that cannot be read is not known, so its mail is deferred"
             : route_differs ? ", and the two routes differ, so its mail is deferred" : "");
    later->action = narrow->action;
    later->line = narrow->line;
    if (route_differs) {
        char why[96];
        if (unknown)
            fmt(why, sizeof why, "line %u cannot be read, so the route it meant is not known", unknown_line);
        else
            fmt(why, sizeof why, "lines %u and %u give this domain different routes",
                (unsigned)earlier->line, (unsigned)later->line);
        free(later->nexthop);
        later->nexthop = dup_range(why, strlen(why)); /* why, as in read_value */
        if (!later->nexthop)
            d->diags.oom = 1;
        later->route_invalid = 1;
    }
}

/* A recipient domain that ends in '.' is refused by Haraka (501) before
 * any rcpt hook runs, so such a key matches no recipient it hands on. */
static int plausible_domain(const char *key)
{
    if (strcmp(key, "any") == 0)
        return 1;
    size_t n = strlen(key);
    return check_hostname(key, n) == NULL && strchr(key, '.') != NULL && key[n - 1] != '.';
}

/* A key that may match a recipient domain: a domain name (plausible_domain)
 * or a subdomain key, a dot and a domain name, which may be a single label
 * (.example matches every name under the TLD example). */
static int plausible_key(const char *key)
{
    if (key[0] != '.')
        return plausible_domain(key);
    size_t n = strlen(key + 1);
    return n && check_hostname(key + 1, n) == NULL && key[n] != '.';
}

/* haraka-plugin-relay 1.0.2 looks a recipient's domain up as it is, so a
 * key with a leading dot never matched there: a file that has one is wider
 * here, and each such key is told (info dest-suffix-key), with the names it
 * covers.  A file of a million of them must not bury its errors under a
 * million notes (DIAG_MAX): the first SUFFIX_NOTES are told one by one, the
 * rest in one note at the first of them (domains_build). */
#define SUFFIX_NOTES 100

static void suffix_note(struct domains *d, const char *key, const char *parent, uint32_t line)
{
    if (d->diags.quiet) /* a line read again (ini_text.c): its diagnostics were given */
        return;
    if (d->suffix_notes < SUFFIX_NOTES) {
        d->suffix_notes++;
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 1, RELAY_INFO, "dest-suffix-key",
                 "'%.80s' matches every subdomain of %.80s (a.%.80s, a.b.%.80s, \xe2\x80\xa6), "
                 "not %.80s itself; haraka-plugin-relay 1.0.2 never matched this key",
                 key, parent, parent, parent, parent);
        return;
    }
    if (!d->suffix_more++)
        d->suffix_more_line = line;
    d->suffix_last_line = line;
}

/* ---- the common entry (see the top) --------------------------------- */

/* A JSON string of printable ASCII without escapes, from the quote at *pp:
 * its length, *pp after the closing quote; -1 for anything else. */
static long fast_string(const char **pp)
{
    const char *p = *pp + 1, *start = p;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\\')
            return -1;
        p++;
    }
    *pp = p + 1;
    return (long)(p - start);
}

/* The value of the common entry: a JSON object with "action" ("accept",
 * "continue" or "deny") and/or "nexthop" (one route that nexthop_check
 * takes), each once, as strings of printable ASCII without escapes,
 * blanks being spaces and tabs.  For such a value the general way
 * (read_value) gives no diagnostic, this action and, as the route, the
 * nexthop string with its quotes.  Returns 1 with e->action and *hop /
 * *hop_len (the quoted route in v, or NULL); 0 when the value must be read
 * the general way. */
/* Was this route taken by nexthop_check lately?  Many domains share one
 * smarthost: a route is checked once, not once per entry.  A route's
 * check depends on its text only, so what is kept stays true. */
static int route_known(const char *route, size_t n, int remember)
{
    static char seen[16][64];
    unsigned h = (unsigned)n;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + (unsigned char)route[i];
    char *slot = seen[h & 15];
    if (n >= sizeof seen[0])
        return 0;
    if (remember) {
        memcpy(slot, route, n + 1);
        return 1;
    }
    return memcmp(slot, route, n + 1) == 0;
}

static int fast_value(const char *v, struct domain_entry *e, const char **hop, size_t *hop_len)
{
    const char *p = v;
    int have_action = 0;
    e->action = RELAY_ACTION_NONE;
    *hop = NULL;
#define BLANKS() while (*p == ' ' || *p == '\t') p++
    BLANKS();
    if (*p++ != '{')
        return 0;
    BLANKS();
    for (;;) {
        if (*p != '"')
            return 0;
        const char *k = p + 1, *str;
        long klen = fast_string(&p), n;
        BLANKS();
        if (klen < 0 || *p++ != ':')
            return 0;
        BLANKS();
        if (*p != '"' || (n = fast_string((str = p, &p))) < 0)
            return 0;
        if (klen == 6 && memcmp(k, "action", 6) == 0 && !have_action) {
            if (n == 6 && memcmp(str + 1, "accept", 6) == 0)
                e->action = RELAY_ACTION_ACCEPT;
            else if (n == 8 && memcmp(str + 1, "continue", 8) == 0)
                e->action = RELAY_ACTION_CONTINUE;
            else if (n == 4 && memcmp(str + 1, "deny", 4) == 0)
                e->action = RELAY_ACTION_DENY;
            else
                return 0;
            have_action = 1;
        } else if (klen == 7 && memcmp(k, "nexthop", 7) == 0 && !*hop) {
            char route[256];
            if (n == 0 || (size_t)n >= sizeof route)
                return 0;
            memcpy(route, str + 1, (size_t)n);
            route[n] = '\0';
            if (!route_known(route, (size_t)n, 0) &&
                (nexthop_check(route) || !route_known(route, (size_t)n, 1)))
                return 0;
            *hop = str;
            *hop_len = (size_t)n + 2;
        } else {
            return 0;
        }
        BLANKS();
        if (*p == '}')
            break;
        if (*p++ != ',')
            return 0;
        BLANKS();
    }
    p++;
    BLANKS();
#undef BLANKS
    return *p == '\0';
}

/* The common entry (see the top): a key that is a domain name in lower
 * case (no dest-bad-domain, nothing to lower), a fast_value, on a line the
 * reader handed on with `at`, in no doubt.  The entry's name and route
 * point into the kept text, cut there with a NUL.  Returns 1 with *e
 * filled, 0 when the entry must be read the general way. */
static int fast_entry(struct domains *d, const char *key, const char *value,
                      const struct ini_at *at, struct domain_entry *e, size_t *klen)
{
    if (!at || !d->text || !relay_fast_paths)
        return 0;
    /* a host name in lower case that check_hostname takes, with a dot,
     * ending in a letter, '-' or '_' (so not the IPv4 form, not "any", not
     * ending in '.'): plausible_domain's yes, without a diagnostic */
    size_t n = 0, label = 0;
    int dot = 0;
    for (unsigned char c; (c = (unsigned char)key[n]) != '\0'; n++) {
        if (c == '.') {
            if (!label)
                return 0;
            label = 0;
            dot = 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    if (!dot || n > 253 || key[n - 1] == '.' || (key[n - 1] >= '0' && key[n - 1] <= '9'))
        return 0;
    const char *hop;
    size_t hop_len;
    if (!fast_value(value, e, &hop, &hop_len))
        return 0;
    /* the text is d->text, which the domains own */
    e->name = (char *)(uintptr_t)at->key;
    e->name_len = (uint8_t)n; /* at most 253 */
    e->borrowed = DOMAIN_NAME_IN_TEXT;
    if (hop) {
        e->nexthop = (char *)(uintptr_t)at->value + (hop - value);
        e->borrowed |= DOMAIN_HOP_IN_TEXT;
    }
    *klen = n;
    return 1;
}

/* Cuts a common entry's name and route out of the text with a NUL: the
 * name is followed by a blank or the '=', the route's closing quote by a
 * blank, ',' or '}'; that line is never read again. */
static void cut_entry(struct domain_entry *e, size_t name_length)
{
    if (e->borrowed & DOMAIN_NAME_IN_TEXT)
        e->name[name_length] = '\0';
    if (e->borrowed & DOMAIN_HOP_IN_TEXT) {
        char *q = e->nexthop + 1;
        while (*q != '"')
            q++;
        q[1] = '\0';
    }
}

/* Puts e in the table, merged with an entry of the same name if there is
 * one; the table owns what e owns from here on.  `line`: the entry's own
 * line (a merge may give e an earlier one).  Returns 0 on out of memory. */
static int insert_entry(struct load *ld, struct domain_entry *e, const char *key,
                        uint32_t line, size_t len)
{
    struct domains *d = ld->d;
    if (ld->deferred) {
        if (d->count == d->entries_cap || d->count + 1 > d->cap / 2) {
            /* more entries than lines were counted: read again, entry by entry */
            entry_free(e);
            ld->again = 1;
            return 0;
        }
        if (d->diags.oom) {
            entry_free(e);
            return 0;
        }
        ((uint64_t *)(void *)d->index)[d->count] =
            (uint64_t)hash_name(e->name, len) << 32 | d->count;
        d->entries[d->count++] = *e;
        if (e->name[0] == '.') /* (a repeated name reads the file again) */
            count_suffix(d, e->name, len);
        goto counted;
    }
    if (d->diags.oom || reserve(d, d->count + 1)) {
        entry_free(e);
        return 0;
    }
    cut_entry(e, len);
    uint32_t hash = hash_name(e->name, len);
    struct domain_slot *slot = slot_for(d, e->name, len, hash);
    slot->hash = hash;
    if (slot->entry) {
        struct domain_entry *earlier = &d->entries[slot->entry - 1];
        if (earlier->nexthop || earlier->route_invalid)
            d->nexthops--;
        if (e->borrowed & DOMAIN_HOP_IN_TEXT) {
            /* merge_duplicate may free or replace the route */
            e->nexthop = dup_range(e->nexthop, strlen(e->nexthop));
            e->borrowed &= (uint8_t)~DOMAIN_HOP_IN_TEXT;
            if (!e->nexthop) {
                entry_free(e);
                return 0;
            }
        }
        merge_duplicate(d, earlier, e, key);
        entry_free(earlier);
        *earlier = *e;
    } else {
        slot->entry = (uint32_t)++d->count;
        d->entries[d->count - 1] = *e;
        if (e->name[0] == '.')
            count_suffix(d, e->name, len);
    }
counted:
    if (!d->first_line)
        d->first_line = line;
    if (e->nexthop || e->route_invalid) {
        d->nexthops++;
        if (!d->first_nexthop)
            d->first_nexthop = line;
    }
    return 1;
}

static int on_entry(void *user, const char *section, const char *key,
                    const char *value, uint32_t line, int doubt, const struct ini_at *at)
{
    struct load *ld = user;
    struct domains *d = ld->d;
    if (!key) {
        ld->in_domains = strcmp(section, "domains") == 0;
        if (!ld->in_domains)
            diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_WARNING,
                     "ini-unknown-section",
                     "section [%.80s] is not read by the relay plugin (only [domains]); its lines are ignored",
                     section);
        ld->warned_section_line = line;
        return 1;
    }
    if (!ld->in_domains) {
        if (!ld->warned_section_line) /* lines before any header */
            diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_WARNING,
                     "ini-unknown-section",
                     "'%.80s' stands before [domains] and is ignored", key);
        return 1;
    }
    struct domain_entry e = {0};
    e.line = line;
    size_t fast_len;
    if (!doubt && fast_entry(d, key, value, at, &e, &fast_len))
        return insert_entry(ld, &e, key, line, fast_len);
    /* `name[]`: Haraka makes the entry of `name` (the key with its first
     * `[]` taken out) a list, which haraka-plugin-relay may still read: that
     * entry is refused. */
    size_t klen = strlen(key);
    const char *pair = strstr(key, "[]");
    int array = klen > 2 && strcmp(key + klen - 2, "[]") == 0;
    e.name = dup_range(key, klen);
    if (!e.name)
        return 0;
    if (array) {
        memmove(e.name + (pair - key), e.name + (pair - key) + 2, klen - (size_t)(pair - key) - 1);
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 1, RELAY_ERROR, "ini-array-key",
                 "'%.80s' makes the entry of '%.80s' a list in Haraka; its recipients are refused",
                 key, e.name);
        doubt = 1;
    }
    for (char *c = e.name; *c; c++)
        *c = (char)ascii_lower((unsigned char)*c);
    int suffix = e.name[0] == '.';
    if (suffix && (e.name[1] == '\0' || e.name[1] == '.')) {
        /* `.`, `..x`, `...`: no domain after the dot; were it a key, `.`
         * could only be read as every domain.  Left out of the table. */
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 1, RELAY_ERROR, "dest-bad-suffix-key",
                 "'%.80s' is no subdomain key: a leading dot must be followed by a domain "
                 "name (.example.com); ignored, it matches no recipient", key);
        free(e.name);
        return 1;
    }
    if (!plausible_key(e.name))
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 1, RELAY_WARNING, "dest-bad-domain",
                 e.name[0] && e.name[strlen(e.name) - 1] == '.'
                     ? "'%.80s' ends in '.': Haraka refuses a recipient domain written so (501) "
                       "before any plugin sees it; write the domain without the dot"
                 : suffix ? "'%.80s' is not a dot followed by a domain name; no recipient domain will match it"
                          : "'%.80s' is not a domain name; no recipient domain will match it",
                 key);
    else if (suffix)
        suffix_note(d, key, e.name + 1, line);
    if (read_value(d, &e, key, value, line))
        e.action = RELAY_ACTION_INVALID;
    if (doubt) { /* Haraka may read this entry otherwise: refuse, route nowhere */
        free(e.nexthop);
        e.nexthop = NULL;
        e.route_invalid = 0;
        e.action = RELAY_ACTION_INVALID;
    }
    return insert_entry(ld, &e, key, line, e.name ? strlen(e.name) : 0);
}

/* Files of fewer lines are read entry by entry: their index fits a cache. */
#define DEFERRED_MIN_LINES 32768

/* One reading of the text into d (emptied first, the text kept). */
static int read_text(struct domains *d, size_t len, size_t lines, int deferred, int *again)
{
    char *text = d->text;
    d->text = NULL;
    domains_free(d);
    d->text = text;
    struct load ld = {d, 0, 0, deferred, 0};
    int rc = reserve(d, lines + 1) ? -1
           : ini_text_parse(d->text, len, RELAY_FILE_DOMAINS, &d->diags, on_entry, &ld);
    *again = ld.again;
    if (ld.again)
        return 0;
    if (rc || d->diags.oom)
        return -1;
    if (!deferred)
        return 0;
    int built = build_index(d);
    if (built)
        *again = built == 1;
    if (built)
        return built == 1 ? 0 : -1;
    for (size_t i = 0; i < d->count; i++)
        if (d->entries[i].borrowed)
            cut_entry(&d->entries[i], name_len(&d->entries[i]));
    return 0;
}

int domains_build(struct domains *d, const char *text, size_t len, char *owned)
{
    memset(d, 0, sizeof *d);
    /* the text is kept: the common entries point into it */
    char *kept = owned ? owned : dup_range(text, len);
    if (!kept)
        return -1;
    d->text = kept;
    size_t lines = count_lines(kept, len);
    int again = 0;
    int deferred = relay_fast_paths && lines >= DEFERRED_MIN_LINES;
    if (read_text(d, len, lines, deferred, &again) ||
        (again && read_text(d, len, lines, 0, &again))) {
        domains_free(d);
        return -1;
    }
    if (d->suffix_more)
        diag_add(&d->diags, RELAY_FILE_DOMAINS, d->suffix_more_line, 1, RELAY_INFO,
                 "dest-suffix-key",
                 "%zu more keys with a leading dot, from here to line %u, each match every "
                 "subdomain of their domain, not the domain itself; haraka-plugin-relay 1.0.2 "
                 "never matched such keys (the first %d are told one by one)",
                 d->suffix_more, (unsigned)d->suffix_last_line, SUFFIX_NOTES);
    size_t borrowing = 0;
    for (size_t i = 0; i < d->count; i++)
        borrowing += d->entries[i].borrowed != 0;
    if (!borrowing) { /* nothing points into the text */
        free(d->text);
        d->text = NULL;
    }
    if (d->entries_cap > 2 * d->count + 64) {
        /* sized for more lines than there are entries (comments, blanks):
         * give the rest back */
        struct domain_entry *fit = realloc(d->entries, (d->count + 1) * sizeof *fit);
        if (fit) {
            d->entries = fit;
            d->entries_cap = d->count + 1;
        }
        size_t cap = 64;
        while (cap / 2 < d->count + 1)
            cap *= 2;
        if (cap < d->cap)
            reindex(d, cap); /* on failure the larger index stays */
    }
    return 0;
}

void domains_free(struct domains *d)
{
    for (size_t i = 0; i < d->count; i++)
        entry_free(&d->entries[i]);
    free(d->entries);
    free(d->index);
    free(d->text);
    diag_clear(&d->diags);
    memset(d, 0, sizeof *d);
}

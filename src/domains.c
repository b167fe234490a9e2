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
 * last resort for force routing.  Values are JSON objects read with cJSON
 * when the file is loaded (haraka-plugin-relay 1.0.2 parsed them at RCPT
 * time and threw on bad JSON).  An entry that cannot be read stays in the
 * table marked invalid: its recipients are refused and its mail is not
 * routed anywhere, rather than the entry silently vanishing.
 * The table is open addressing with linear probing, sized to a power of
 * two at most half full, so a lookup is one hash and a probe or two.
 */
#include "core.h"

#include "cJSON.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a over the lower-cased name */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint32_t)ascii_lower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static int same_name(const char *stored, const char *s, size_t len)
{
    /* a NUL in s must not walk past the end of stored */
    for (size_t i = 0; i < len; i++)
        if (!stored[i] || stored[i] != ascii_lower((unsigned char)s[i]))
            return 0;
    return stored[len] == '\0';
}

static struct domain_entry *slot_for(struct domain_entry *slots, size_t cap,
                                     const char *name, size_t len)
{
    size_t i = hash_name(name, len) & (cap - 1);
    while (slots[i].name && !same_name(slots[i].name, name, len))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct domains *d)
{
    size_t cap = d->cap ? d->cap * 2 : 64;
    struct domain_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].name)
            *slot_for(slots, cap, d->slots[i].name, strlen(d->slots[i].name)) = d->slots[i];
    free(d->slots);
    d->slots = slots;
    d->cap = cap;
    return 0;
}

const struct domain_entry *domains_find(const struct domains *d,
                                        const char *name, size_t len)
{
    if (!d->cap)
        return NULL;
    const struct domain_entry *e = slot_for(d->slots, d->cap, name, len);
    return e->name ? e : NULL;
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
static const char *check_url(const char *h, size_t hn)
{
    static char why[240];
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
            "URL has a %s after the host: outbound would use %.*s; a route is "
            "scheme://[user:pass@]host[:port]",
            h[an] == '/' ? "path" : h[an] == '?' ? "query" : "fragment",
            (int)(namen > 80 ? 80 : namen), host);
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
            "outbound would use %.*s as the host",
            what, (int)(namen > 80 ? 80 : namen), host);
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

static size_t json_string(char *out, const char *s)
{
    size_t n = 0;
    if (out)
        out[n] = '"';
    n++;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t k;
        if (*p == '"' || *p == '\\')
            k = fmt(esc, sizeof esc, "\\%s", *p == '"' ? "\"" : "\\");
        else if (*p < 0x20)
            k = fmt(esc, sizeof esc, "\\u%04x", (unsigned)*p);
        else
            esc[0] = (char)*p, k = 1;
        if (out)
            memcpy(out + n, esc, k);
        n += k;
    }
    if (out)
        out[n] = '"';
    return n + 1;
}

/* A string or an array of strings (already checked), as compact JSON. */
static size_t route_json(char *out, const cJSON *item)
{
    if (cJSON_IsString(item))
        return json_string(out, item->valuestring);
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
        n += json_string(out ? out + n : NULL, h->valuestring);
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
};

static void entry_free(struct domain_entry *e)
{
    free(e->name);
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
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR, "dest-bad-json",
                 "value of '%.80s' is not valid JSON (at character %zu: '%.20s'); recipients refused",
                 key, off + 1, value + off);
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
            /* a repeated key: the later one wins, as with JSON.parse */
            free(e->nexthop);
            e->nexthop = NULL;
            int n = 0;
            const char *why = NULL;
            if (cJSON_IsString(item)) {
                why = nexthop_check(item->valuestring);
                n = 1;
            } else if (cJSON_IsArray(item)) {
                for (cJSON *h = item->child; h && !why; h = h->next, n++)
                    why = cJSON_IsString(h) ? nexthop_check(h->valuestring)
                                            : "array holds something other than strings";
                if (n == 0)
                    why = "empty array";
            } else {
                why = "must be a string such as \"host:port\" or an array of them";
            }
            if (why) {
                diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 0, RELAY_ERROR,
                         "dest-bad-nexthop", "nexthop of '%.80s': %s; entry refused",
                         key, why);
                bad = 1;
                e->route_invalid = 1;
            } else {
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
    int route_differs = !same_route(earlier, later);
    const struct domain_entry *narrow =
        action_rank(earlier->action) <= action_rank(later->action) ? earlier : later;
    diag_add(&d->diags, RELAY_FILE_DOMAINS, later->line, 1, RELAY_ERROR, "dest-conflicting-key",
             "'%.80s' names the same domain as line %u with another meaning; the narrower "
             "holds (action of line %u%s)",
             key, (unsigned)earlier->line, (unsigned)narrow->line,
             route_differs ? ", and the two routes differ, so its mail is deferred" : "");
    later->action = narrow->action;
    later->line = narrow->line;
    if (route_differs) {
        free(later->nexthop);
        later->nexthop = NULL;
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

static int on_entry(void *user, const char *section, const char *key,
                    const char *value, uint32_t line, int doubt)
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
    if (!plausible_domain(e.name))
        diag_add(&d->diags, RELAY_FILE_DOMAINS, line, 1, RELAY_WARNING, "dest-bad-domain",
                 e.name[0] && e.name[strlen(e.name) - 1] == '.'
                     ? "'%.80s' ends in '.': Haraka refuses a recipient domain written so (501) "
                       "before any plugin sees it; write the domain without the dot"
                     : "'%.80s' is not a domain name; no recipient domain will match it",
                 key);
    if (read_value(d, &e, key, value, line))
        e.action = RELAY_ACTION_INVALID;
    if (doubt) { /* Haraka may read this entry otherwise: refuse, route nowhere */
        free(e.nexthop);
        e.nexthop = NULL;
        e.route_invalid = 0;
        e.action = RELAY_ACTION_INVALID;
    }
    if (d->diags.oom) {
        entry_free(&e);
        return 0;
    }
    if ((d->count + 1) * 2 > d->cap && grow(d)) {
        entry_free(&e);
        return 0;
    }
    struct domain_entry *slot = slot_for(d->slots, d->cap, e.name, strlen(e.name));
    if (slot->name) {
        if (slot->nexthop || slot->route_invalid)
            d->nexthops--;
        merge_duplicate(d, slot, &e, key);
        entry_free(slot);
    } else {
        d->count++;
    }
    *slot = e;
    if (!d->first_line)
        d->first_line = line;
    if (e.nexthop || e.route_invalid) {
        d->nexthops++;
        if (!d->first_nexthop)
            d->first_nexthop = line;
    }
    return 1;
}

int domains_build(struct domains *d, const char *text, size_t len)
{
    memset(d, 0, sizeof *d);
    struct load ld = {d, 0, 0};
    if (ini_text_parse(text, len, RELAY_FILE_DOMAINS, &d->diags, on_entry, &ld) ||
        d->diags.oom) {
        domains_free(d);
        return -1;
    }
    return 0;
}

void domains_free(struct domains *d)
{
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].name)
            entry_free(&d->slots[i]);
    free(d->slots);
    diag_clear(&d->diags);
    memset(d, 0, sizeof *d);
}

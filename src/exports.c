/*
 * exports.c - the WebAssembly boundary: every function the JS side calls.
 *
 * For: js/wasm-module.js, the one JS file that marshals data across.
 *
 * Strings go in through one reusable input buffer (relay_input) so a
 * per-connection question costs no allocation: JS writes the UTF-8 text
 * there and passes its length.  Answers are small integers; the few text
 * answers (a route, the key of a domain's entry, the diagnostics as JSON,
 * the description of this boundary) are left in an output buffer that JS reads at relay_output()
 * for relay_output_length() bytes (it is NUL-terminated too, for C
 * callers, but no reader needs to look for the NUL).
 * Packed answers (LINE_SHIFT and the masks are in relay_abi's answer):
 *   relay_rcpt   (line << 3) | action         (enum relay_action)
 *   relay_route_for (line << 3) | via_any << 2 | route   (enum relay_route)
 *
 * relay_abi describes the boundary as JSON: the files, the enums with
 * their C names and values and the names JS gives them, the relay.ini
 * switches with their bits and defaults, and the packing.  js/wasm-module.js
 * reads it when it starts an instance instead of keeping copies of its
 * own, and test/abi.test.js compares it with src/relay.h.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name), used, visibility("default")))

/* The line of a packed answer stands above the enum (and via_any). */
#define LINE_SHIFT 3
#define ACTION_MASK 7u
#define ROUTE_MASK 3u
#define VIA_ANY_BIT 4u
_Static_assert(RELAY_ACTION_INVALID <= ACTION_MASK && ACTION_MASK < (1u << LINE_SHIFT),
               "an action must fit below the line of relay_rcpt's answer");
_Static_assert(RELAY_ROUTE_INVALID <= ROUTE_MASK && ROUTE_MASK < VIA_ANY_BIT &&
               VIA_ANY_BIT < (1u << LINE_SHIFT),
               "a route and via_any must fit below the line of relay_route_for's answer");

/* A value of an enum of relay.h: its C name, its value and the name JS
 * gives it.  Each table is indexed by the value (designated initializers),
 * so the name of a value is its entry's. */
struct abi_name {
    const char *c;
    int value;
    const char *name;
};
#define ABI(c, name) [c] = {#c, c, name}

static const struct abi_name abi_actions[] = {
    ABI(RELAY_ACTION_UNLISTED, "unlisted"), ABI(RELAY_ACTION_ACCEPT, "accept"),
    ABI(RELAY_ACTION_CONTINUE, "continue"), ABI(RELAY_ACTION_DENY, "deny"),
    ABI(RELAY_ACTION_NONE, "noaction"),     ABI(RELAY_ACTION_INVALID, "invalid"),
};
static const struct abi_name abi_routes[] = {
    ABI(RELAY_ROUTE_MX, "mx"), ABI(RELAY_ROUTE_NEXTHOP, "nexthop"),
    ABI(RELAY_ROUTE_INVALID, "invalid"),
};
static const struct abi_name abi_severities[] = {
    ABI(RELAY_ERROR, "error"), ABI(RELAY_WARNING, "warning"), ABI(RELAY_INFO, "info"),
};
/* the names are relay_file_name's (config.c), filled in when written */
static const struct abi_name abi_files[] = {
    ABI(RELAY_FILE_INI, NULL), ABI(RELAY_FILE_ACL, NULL), ABI(RELAY_FILE_DOMAINS, NULL),
};
/* not by value (one is negative): relay_acl answers a line (> 0) for a
 * listed client, else one of these */
static const struct abi_name abi_acl[] = {
    {"RELAY_ACL_NOT_ADDRESS", RELAY_ACL_NOT_ADDRESS, "not-address"},
    {"RELAY_ACL_UNLISTED", RELAY_ACL_UNLISTED, "unlisted"},
    {"RELAY_ACL_LISTED", RELAY_ACL_LISTED, "listed"},
};
#undef ABI
#define COUNT(a) (sizeof (a) / sizeof (a)[0])
_Static_assert(COUNT(abi_actions) == RELAY_ACTION_INVALID + 1, "a relay_action without a name");
_Static_assert(COUNT(abi_routes) == RELAY_ROUTE_INVALID + 1, "a relay_route without a name");
_Static_assert(COUNT(abi_severities) == RELAY_INFO + 1, "a relay_severity without a name");
_Static_assert(COUNT(abi_files) == RELAY_FILE_COUNT, "a relay_file missing");

static char *input;
static size_t input_cap;
static char *output;
static size_t output_len, output_cap;

EXPORT(relay_input) char *relay_input(uint32_t size)
{
    if (size == UINT32_MAX)
        return NULL; /* size + 1 would wrap: no such buffer */
    if (size + 1 > input_cap) {
        /* a file's text (64 KiB or more), which the core may keep: no
         * slack, so grow from nothing, which gives exactly size + 1 */
        size_t cap = size >= 65536 ? 0 : input_cap;
        char *grown = grow_array(input, &cap, (size_t)size + 1, 1, 256);
        if (!grown)
            return NULL;
        input = grown;
        input_cap = cap;
    }
    return input;
}

EXPORT(relay_output) const char *relay_output(void) { return output; }

/* How many bytes of text relay_output() holds: the answer of the last
 * relay_route_for, relay_key_for, relay_report or relay_abi. */
EXPORT(relay_output_length) uint32_t relay_output_length(void) { return (uint32_t)output_len; }

/* Room for n more bytes and the NUL; 0, or -1 when memory ran out. */
static int out_reserve(size_t n)
{
    if (output_len + n + 1 > output_cap) {
        char *grown = grow_array(output, &output_cap, output_len + n + 1, 1, 1024);
        if (!grown)
            return -1;
        output = grown;
    }
    return 0;
}

static int out_put(const char *s, size_t n)
{
    if (out_reserve(n))
        return -1;
    memcpy(output + output_len, s, n);
    output_len += n;
    output[output_len] = '\0';
    return 0;
}

static int out_json_string(const char *s)
{
    size_t n = json_quote(NULL, s);
    if (out_reserve(n))
        return -1;
    json_quote(output + output_len, s);
    output_len += n;
    output[output_len] = '\0';
    return 0;
}

EXPORT(relay_new) struct relay_config *relay_new(void) { return relay_config_new(); }

EXPORT(relay_free) void relay_free(struct relay_config *cfg) { relay_config_free(cfg); }

/* The file's text is in the input buffer, which the core takes (and frees
 * as soon as it is read: a million-line file's text and its tables are not
 * in memory together); the next relay_input makes a new one.  Errors found,
 * or -1 (no memory: the file's previous text stays in force). */
EXPORT(relay_load) int relay_load(struct relay_config *cfg, int file, uint32_t len)
{
    if (!input)
        return relay_config_load(cfg, (enum relay_file)file, "", 0);
    char *text = input;
    input = NULL;
    input_cap = 0;
    return relay_config_load_taking(cfg, (enum relay_file)file, text, len);
}

EXPORT(relay_settings_bits) unsigned relay_settings_bits(struct relay_config *cfg)
{
    return relay_settings(cfg);
}

/* The line of relay.ini that set a switch (a RELAY_SET_* bit), 0 for its
 * default. */
EXPORT(relay_setting_line_of) uint32_t relay_setting_line_of(struct relay_config *cfg,
                                                             unsigned setting)
{
    return relay_setting_line(cfg, setting);
}

#ifdef RELAY_TEST_TRAPS
/* Test builds only (preset wasm-test-traps; the shipped module is built
 * without it, and `node scripts/build.js --check` would see it): a question
 * about the client 127.0.0.254 or the domain trap.invalid traps, so that
 * tests can make the real module fail inside a running Haraka. */
static void test_trap(uint32_t len, const char *magic)
{
    if (len == strlen(magic) && memcmp(input, magic, len) == 0)
        __builtin_trap();
}
#define TEST_TRAP(len, magic) test_trap(len, magic)
#else
#define TEST_TRAP(len, magic) ((void)0)
#endif

/* The line (> 0) of the most specific entry holding the address, else
 * RELAY_ACL_UNLISTED (0) or RELAY_ACL_NOT_ADDRESS (-1). */
EXPORT(relay_acl) int relay_acl(struct relay_config *cfg, uint32_t len)
{
    TEST_TRAP(len, "127.0.0.254");
    uint32_t line = 0;
    int rc = relay_acl_match(cfg, input, len, &line);
    return rc == RELAY_ACL_LISTED ? (int)line : rc;
}

EXPORT(relay_rcpt) uint32_t relay_rcpt(struct relay_config *cfg, uint32_t len)
{
    TEST_TRAP(len, "trap.invalid");
    uint32_t line = 0;
    enum relay_action a = relay_rcpt_action(cfg, input, len, &line);
    return line << LINE_SHIFT | (uint32_t)a;
}

/* The key of the entry relay_rcpt answers for the domain in the input
 * (lower case; ".example.com" for a subdomain key) is left in the output
 * buffer; returns its length, 0 when the domain has no entry (or memory
 * ran out).  Asked only to name the key: relay_rcpt stays one lookup. */
EXPORT(relay_key_for) uint32_t relay_key_for(struct relay_config *cfg, uint32_t len)
{
    const char *key = relay_rcpt_key(cfg, input, len);
    output_len = 0;
    if (output)
        output[0] = '\0';
    if (!key || out_put(key, strlen(key))) {
        output_len = 0;
        return 0;
    }
    return (uint32_t)output_len;
}

/* The route's JSON text (nexthop) or why it cannot be used (invalid) is
 * left in the output buffer, relay_output_length() bytes; none when memory
 * ran out. */
EXPORT(relay_route_for) uint32_t relay_route_for(struct relay_config *cfg, uint32_t len)
{
    const char *nexthop = NULL;
    uint32_t line = 0;
    int via_any = 0;
    enum relay_route r = relay_route(cfg, input, len, &nexthop, &line, &via_any);
    output_len = 0;
    if (output)
        output[0] = '\0';
    if (nexthop && out_put(nexthop, strlen(nexthop))) {
        output_len = 0;
        return RELAY_ROUTE_INVALID;
    }
    return line << LINE_SHIFT | (via_any ? VIA_ANY_BIT : 0) | (uint32_t)r;
}

/* All diagnostics as a JSON array in the output buffer; returns its length,
 * or 0 when memory ran out. */
EXPORT(relay_report) uint32_t relay_report(struct relay_config *cfg)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    output_len = 0;
    int rc = out_put("[", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        char nums[96];
        fmt(nums, sizeof nums, "%s{\"line\":%u,\"column\":%u,\"file\":", i ? "," : "",
                 (unsigned)d[i].line, (unsigned)d[i].column);
        rc = out_put(nums, strlen(nums)) || out_json_string(relay_file_name(d[i].file)) ||
             out_put(",\"severity\":", 12) || out_json_string(abi_severities[d[i].severity].name) ||
             out_put(",\"code\":", 8) || out_json_string(d[i].code) ||
             out_put(",\"message\":", 11) || out_json_string(d[i].message) || out_put("}", 1);
    }
    if (rc || out_put("]", 1)) {
        output_len = 0;
        return 0;
    }
    return (uint32_t)output_len;
}

/* ,"key":[{"c":"RELAY_…","value":n,"name":"…"},…] */
static int out_names(const char *key, const struct abi_name *e, size_t n)
{
    int rc = out_put(",", 1) || out_json_string(key) || out_put(":[", 2);
    for (size_t i = 0; i < n && !rc; i++) {
        char num[32];
        const char *name = e[i].name ? e[i].name : relay_file_name((enum relay_file)e[i].value);
        fmt(num, sizeof num, ",\"value\":%d,\"name\":", e[i].value);
        rc = out_put(i ? ",{\"c\":" : "{\"c\":", i ? 6 : 5) || out_json_string(e[i].c) ||
             out_put(num, strlen(num)) || out_json_string(name) || out_put("}", 1);
    }
    return rc || out_put("]", 1);
}

/* The description of this boundary as JSON in the output buffer (see the
 * top); returns its length, or 0 when memory ran out. */
EXPORT(relay_abi) uint32_t relay_abi(void)
{
    char num[160];
    output_len = 0;
    fmt(num, sizeof num,
        "{\"packing\":{\"line_shift\":%u,\"action_mask\":%u,\"route_mask\":%u,\"via_any\":%u}",
        (unsigned)LINE_SHIFT, ACTION_MASK, ROUTE_MASK, VIA_ANY_BIT);
    int rc = out_put(num, strlen(num)) || out_names("files", abi_files, COUNT(abi_files)) ||
             out_names("severities", abi_severities, COUNT(abi_severities)) ||
             out_names("actions", abi_actions, COUNT(abi_actions)) ||
             out_names("routes", abi_routes, COUNT(abi_routes)) ||
             out_names("acl", abi_acl, COUNT(abi_acl)) || out_put(",\"settings\":[", 13);
    /* the switches as settings.c reads them, by enum setting_switch */
    for (size_t i = 0; i < SWITCH_COUNT && !rc; i++) {
        const struct setting_switch_info *w = &settings_switches[i];
        fmt(num, sizeof num, ",\"bit\":%u,\"default\":%s}", w->bit,
            RELAY_SET_DEFAULTS & w->bit ? "true" : "false");
        rc = out_put(i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8) || out_json_string(w->key) ||
             out_put(num, strlen(num));
    }
    if (rc || out_put("]}", 2)) {
        output_len = 0;
        return 0;
    }
    return (uint32_t)output_len;
}

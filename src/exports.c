/*
 * exports.c - the WebAssembly boundary: every function the JS side calls.
 *
 * For: js/wasm-module.js, the one JS file that marshals data across.
 *
 * Strings go in through one reusable input buffer (relay_input) so a
 * per-connection question costs no allocation: JS writes the UTF-8 text
 * there and passes its length.  Answers are small integers; the few text
 * answers (a route, the diagnostics as JSON) are left in an output buffer
 * that JS reads at relay_output() for the returned length.
 * Packed answers:
 *   relay_rcpt   (line << 3) | action         (enum relay_action)
 *   relay_route_for (line << 3) | via_any << 2 | route   (enum relay_route)
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name), used, visibility("default")))

static char *input;
static size_t input_cap;
static char *output;
static size_t output_len, output_cap;

EXPORT(relay_input) char *relay_input(uint32_t size)
{
    if (size + 1 > input_cap) {
        size_t cap = input_cap ? input_cap : 256;
        while (cap < (size_t)size + 1)
            cap *= 2;
        if (size >= 65536) /* a file's text, which the core may keep: no slack */
            cap = (size_t)size + 1;
        char *grown = realloc(input, cap);
        if (!grown)
            return NULL;
        input = grown;
        input_cap = cap;
    }
    return input;
}

EXPORT(relay_output) const char *relay_output(void) { return output; }

static int out_put(const char *s, size_t n)
{
    if (output_len + n + 1 > output_cap) {
        size_t cap = output_cap ? output_cap : 1024;
        while (cap < output_len + n + 1)
            cap *= 2;
        char *grown = realloc(output, cap);
        if (!grown)
            return -1;
        output = grown;
        output_cap = cap;
    }
    memcpy(output + output_len, s, n);
    output_len += n;
    output[output_len] = '\0';
    return 0;
}

static int out_json_string(const char *s)
{
    int rc = out_put("\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            rc = out_put(esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            fmt(esc, sizeof esc, "\\u%04x", (unsigned)*p);
            rc = out_put(esc, 6);
        } else {
            rc = out_put((const char *)p, 1);
        }
    }
    return rc ? rc : out_put("\"", 1);
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

/* Line of the most specific entry holding the address, 0 none, -1 not an
 * address. */
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

EXPORT(relay_acl) int relay_acl(struct relay_config *cfg, uint32_t len)
{
    TEST_TRAP(len, "127.0.0.254");
    uint32_t line = 0;
    int rc = relay_acl_match(cfg, input, len, &line);
    return rc == 1 ? (int)line : rc;
}

EXPORT(relay_rcpt) uint32_t relay_rcpt(struct relay_config *cfg, uint32_t len)
{
    TEST_TRAP(len, "trap.invalid");
    uint32_t line = 0;
    enum relay_action a = relay_rcpt_action(cfg, input, len, &line);
    return line << 3 | (uint32_t)a;
}

/* The route's JSON text (nexthop) or why it cannot be used (invalid) is
 * left in the output buffer, NUL-terminated; empty when memory ran out. */
EXPORT(relay_route_for) uint32_t relay_route_for(struct relay_config *cfg, uint32_t len)
{
    const char *nexthop = NULL;
    uint32_t line = 0;
    int via_any = 0;
    enum relay_route r = relay_route(cfg, input, len, &nexthop, &line, &via_any);
    output_len = 0;
    if (output)
        output[0] = '\0';
    if (nexthop && out_put(nexthop, strlen(nexthop)))
        return RELAY_ROUTE_INVALID;
    return line << 3 | (uint32_t)via_any << 2 | (uint32_t)r;
}

static const char *const severity_names[] = {"error", "warning", "info"};

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
             out_put(",\"severity\":", 12) || out_json_string(severity_names[d[i].severity]) ||
             out_put(",\"code\":", 8) || out_json_string(d[i].code) ||
             out_put(",\"message\":", 11) || out_json_string(d[i].message) || out_put("}", 1);
    }
    if (rc || out_put("]", 1))
        return 0;
    return (uint32_t)output_len;
}

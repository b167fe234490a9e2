/*
 * fuzz_ini.c - relay.ini text.
 *
 * Properties: no crash; diagnostics well formed; no switch is on that
 * Haraka's reading of the text (haraka-config's INI walk, fuzz_common.h)
 * leaves off, and for a plain text (fuzz_common.h: ref_ini_read) the four
 * switches are exactly Haraka's; a reload of the same text gives the same
 * switches and the same diagnostics, one by one (file, line, column,
 * severity, code and message).  (Random texts of the shapes admins write
 * are also compared with haraka-config itself in test/differential.test.js.)
 */
#include "fuzz_common.h"

struct diag_copy {
    struct relay_diagnostic d;
    char *code;
};

static char *copy_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *out = malloc(n);
    CHECK_OR_DIE(out != NULL, "out of memory");
    return memcpy(out, s, n);
}

/* The diagnostics in force now, copied (the module's array lives only until
 * the next load). */
static struct diag_copy *copy_diagnostics(struct relay_config *cfg, size_t *count)
{
    const struct relay_diagnostic *d;
    size_t n = relay_diagnostics(cfg, &d);
    struct diag_copy *out = calloc(n ? n : 1, sizeof *out);
    CHECK_OR_DIE(out != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out[i].d = d[i];
        out[i].code = copy_text(d[i].code);
        out[i].d.message = copy_text(d[i].message);
    }
    *count = n;
    return out;
}

static void free_diagnostics(struct diag_copy *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].code);
        free(list[i].d.message);
    }
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_config *cfg = relay_config_new();
    if (!cfg)
        return 0;
    int rc = relay_config_load(cfg, RELAY_FILE_INI, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "load failed: %d", rc);
    uint32_t lines[RELAY_FILE_COUNT] = {fuzz_line_count(data, size), 1, 1};
    check_diagnostics(cfg, lines);
    unsigned bits = relay_settings(cfg);

    struct ref_ini ref;
    ref_ini_read(&ref, data, size);
    CHECK_OR_DIE((bits & ~ref.may_on) == 0,
                 "switches 0x%x on, but Haraka's reading can turn on only 0x%x", bits, ref.may_on);
    CHECK_OR_DIE(!ref.plain || bits == ref.bits, "plain text: switches 0x%x, haraka-config 0x%x",
                 bits, ref.bits);

    size_t n1;
    struct diag_copy *first = copy_diagnostics(cfg, &n1);
    rc = relay_config_load(cfg, RELAY_FILE_INI, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "reload failed: %d", rc);
    CHECK_OR_DIE(relay_settings(cfg) == bits, "reload changed the settings");
    const struct relay_diagnostic *d;
    size_t n2 = relay_diagnostics(cfg, &d);
    CHECK_OR_DIE(n2 == n1, "reload: %zu diagnostics, first load %zu", n2, n1);
    for (size_t i = 0; i < n1; i++) {
        const struct relay_diagnostic *a = &first[i].d;
        CHECK_OR_DIE(a->file == d[i].file && a->line == d[i].line && a->column == d[i].column &&
                         a->severity == d[i].severity && strcmp(first[i].code, d[i].code) == 0 &&
                         strcmp(a->message, d[i].message) == 0,
                     "reload: diagnostic %zu is %u:%u %s '%s', first load %u:%u %s '%s'", i,
                     (unsigned)d[i].line, (unsigned)d[i].column, d[i].code, d[i].message,
                     (unsigned)a->line, (unsigned)a->column, first[i].code, a->message);
    }
    free_diagnostics(first, n1);
    relay_config_free(cfg);
    return 0;
}

/*
 * fuzz_ini.c - relay.ini text.
 *
 * Properties: no crash; diagnostics well formed; only the four switches
 * exist; a reload of the same text gives the same switches and the same
 * diagnostics.  (What the switches must be is checked against
 * haraka-config's own reader in test/differential.test.js.)
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_config *cfg = relay_config_new();
    if (!cfg)
        return 0;
    int rc = relay_config_load(cfg, RELAY_FILE_INI, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "load failed: %d", rc);
    uint32_t lines[RELAY_FILE_COUNT] = {fuzz_line_count(data, size), 1, 1};
    size_t n1 = check_diagnostics(cfg, lines);
    unsigned bits = relay_settings(cfg);
    CHECK_OR_DIE(bits <= 15, "settings 0x%x", bits);
    rc = relay_config_load(cfg, RELAY_FILE_INI, (const char *)data, size);
    CHECK_OR_DIE(rc >= 0, "reload failed: %d", rc);
    CHECK_OR_DIE(relay_settings(cfg) == bits, "reload changed the settings");
    CHECK_OR_DIE(check_diagnostics(cfg, lines) == n1, "reload changed the diagnostics");
    relay_config_free(cfg);
    return 0;
}

/*
 * fuzz_client.c - a client address (the text Haraka hands the plugin as
 * connection.remote.ip) against a fixed relay_acl_allow.
 *
 * Properties: no crash; the module and the reference model (inet_pton and a
 * bit-by-bit match, fuzz_common.h) agree on whether the text is an address
 * and on the line that matches it; never a match the reference refuses.
 */
#include "fuzz_common.h"

static const char ACL[] =
    "# a list with nesting, both families and mapped entries\n"
    "192.0.2.0/24\n"
    "192.0.2.128/25\n"
    "192.0.2.77\n"
    "10.0.0.0/8\n"
    "10.20.0.0/16\n"
    "0.0.0.0/1\n"
    "172.16.0.0/12 # office\n"
    "198.51.100.1/32\n"
    "2001:db8::/32\n"
    "2001:db8:1::/48\n"
    "2001:db8:1:2::1\n"
    "::ffff:203.0.113.0/120\n"
    "::ffff:0:0/95\n"
    "fe80::/10\n"
    "::1\n"
    "::/128\n"
    "ff00::/8\n"
    "64:ff9b::/96\n";

static struct relay_config *cfg;
static struct ref_acl acl; /* kept for the whole run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        cfg = relay_config_new();
        CHECK_OR_DIE(cfg && relay_config_load(cfg, RELAY_FILE_ACL, ACL, sizeof ACL - 1) == 0,
                     "the fixed ACL must load without errors");
        ref_acl_read(&acl, (const uint8_t *)ACL, sizeof ACL - 1);
    }
    check_client(cfg, &acl, (const char *)data, size);
    return 0;
}

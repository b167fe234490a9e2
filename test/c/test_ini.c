/* test_ini.c - INI read as haraka-config reads it: relay.ini switches. */
#include "helpers.h"

static unsigned settings_of(const char *ini)
{
    struct relay_config *cfg = load3(ini, NULL, NULL);
    unsigned s = relay_settings(cfg);
    relay_config_free(cfg);
    return s;
}

int main(void)
{
    CHECK_EQ(settings_of(""), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nacl=false\n"), 0);
    CHECK_EQ(settings_of("[relay]\nall=YES\ndest_domains = On\nforce_routing=1\n"),
             RELAY_SET_ACL | RELAY_SET_ALL | RELAY_SET_DEST_DOMAINS | RELAY_SET_FORCE_ROUTING);
    CHECK_EQ(settings_of("[relay]\nall=enabled\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    CHECK_EQ(settings_of("[relay]\nall=ok\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* not a truth word: false */
    CHECK_EQ(settings_of("[relay]\nall=true ; comment\n"), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nall=y\n"), RELAY_SET_ACL);
    /* keys outside [relay] do nothing */
    CHECK_EQ(settings_of("all=true\n[other]\nall=true\n"), RELAY_SET_ACL);
    /* `[ relay ]` with blanks is [relay] */
    CHECK_EQ(settings_of("  [ relay ]  \nall=true\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* only `=` separates: `all: true` is not a key = value line */
    CHECK_EQ(settings_of("[relay]\nall: true\n"), RELAY_SET_ACL);
    /* backslash continuation, with trailing blanks, across a comment */
    CHECK_EQ(settings_of("[relay]\nall=tr\\  \n# note\nue\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* CRLF and lone CR line ends */
    CHECK_EQ(settings_of("[relay]\r\nall=true\r\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    CHECK_EQ(settings_of("[relay]\rall=true\r"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* a BOM does not hide the first section */
    CHECK_EQ(settings_of("\xEF\xBB\xBF[relay]\nall=true\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* later wins */
    CHECK_EQ(settings_of("[relay]\nall=true\nall=false\n"), RELAY_SET_ACL);
    /* a NUL in a value: Haraka keeps it, so the value is no truth word; the
     * line may turn the switch off, never on, and is never cut at the NUL */
    static const char nul[] = "[relay]\nall=true\nall=fal\0se\n";
    struct relay_config *c0 = relay_config_new();
    CHECK_EQ(relay_config_load(c0, RELAY_FILE_INI, nul, sizeof nul - 1), 1);
    CHECK_EQ(relay_settings(c0), RELAY_SET_ACL);
    CHECK_EQ(diag_line(c0, "ini-control-char"), 3);
    relay_config_free(c0);
    static const char nul2[] = "[relay]\nacl=false\nacl=true\0x\n";
    c0 = relay_config_new();
    CHECK_EQ(relay_config_load(c0, RELAY_FILE_INI, nul2, sizeof nul2 - 1), 1);
    CHECK_EQ(relay_settings(c0), 0);
    relay_config_free(c0);

    /* whitespace is JavaScript's \s, as in haraka-config: VT, FF, NBSP,
     * U+2028, a BOM anywhere */
    CHECK_EQ(settings_of("[relay]\nacl\xC2\xA0= false"), 0);
    CHECK_EQ(settings_of("[relay]\nacl=false\f"), 0);
    CHECK_EQ(settings_of("[relay]\f\nacl=false"), 0);
    CHECK_EQ(settings_of("[relay]\nacl=\xE2\x80\xA8" "false\xE3\x80\x80"), 0);
    CHECK_EQ(settings_of("[relay]\n\xEF\xBB\xBF" "acl=false"), 0);
    CHECK_EQ(settings_of("[relay]\nacl=true\n[disabled]\f\nall=true\n"), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nacl=true\n[disabled]\xC2\xA0\nall=true\n"), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[ \xE3\x80\x80relay\xC2\xA0]\nall=true\n"), RELAY_SET_ACL | RELAY_SET_ALL);
    /* U+2028 inside a value: not a parameter line to Haraka */
    CHECK_EQ(settings_of("[relay]\nall=tr\xE2\x80\xA8ue\n"), RELAY_SET_ACL);
    /* nor in a comment: `;x\u2028` is an invalid line, so a backslash after
     * it joins the next line; the next line may still turn acl off */
    CHECK_EQ(settings_of("[relay]\n;x\xE2\x80\xA8\\\nacl=false\n"), 0);
    CHECK_EQ(settings_of("[relay]\n\x01x\\\nacl=false\n"), 0);
    CHECK_EQ(settings_of("[relay]\n\x01x\\\nall=true\n"), RELAY_SET_ACL);
    /* a line that starts with '[' but is no header ends the section; the
     * lines after it may turn switches off, never on */
    CHECK_EQ(settings_of("[relay]\nacl=true\n[old] junk\nall=true\n"), RELAY_SET_ACL);
    CHECK_EQ(settings_of("[relay]\nacl=true\n[x]\x01\nacl=false\n"), 0);
    CHECK_EQ(settings_of("[relay]\n[x]=1\nall=true\n[relay]\nforce_routing=on\n"),
             RELAY_SET_ACL | RELAY_SET_FORCE_ROUTING);
    /* all on for sure and dest_domains on in some reading: on (it narrows) */
    CHECK_EQ(settings_of("[relay]\nall=true\ndest_domains=true\n[x] junk\ndest_domains=false\n"),
             RELAY_SET_ACL | RELAY_SET_ALL | RELAY_SET_DEST_DOMAINS);
    CHECK_EQ(settings_of("[relay]\nall=true\ndest_domains[]=x\n"),
             RELAY_SET_ACL | RELAY_SET_ALL | RELAY_SET_DEST_DOMAINS);
    CHECK_EQ(settings_of("[relay]\nall=true\n[x] junk\nall=false\n"), RELAY_SET_ACL);

    struct relay_config *cfg = load3("[relay]\nall=true\nfoo=1\nacl=maybe\n[x]\nbad line here\nall=true\nall=true\\", NULL, NULL);
    CHECK_EQ(diag_line(cfg, "open-relay"), 2);
    CHECK_EQ(diag_line(cfg, "ini-unknown-key"), 3);
    CHECK_EQ(diag_line(cfg, "ini-not-boolean"), 4);
    CHECK_EQ(diag_line(cfg, "ini-unknown-section"), 5);
    CHECK_EQ(diag_line(cfg, "ini-invalid-line"), 6);
    CHECK_EQ(diag_line(cfg, "ini-dangling-continuation"), 8);
    relay_config_free(cfg);

    cfg = load3("[relay]\nall=true\nall=false\n", NULL, NULL);
    CHECK_EQ(diag_line(cfg, "ini-duplicate-key"), 3);
    relay_config_free(cfg);

    /* relay_dest_domains.ini: a header ending in VT is a header; a line that
     * starts with '[' but is no header ends [domains] and refuses the
     * domains after it; unsafe keys and `name[]` keys are never accepted */
    cfg = load3(NULL, NULL, "[domains]\ngood.example = {\"action\":\"accept\"}\n[old]\v\n"
                            "evil.example = {\"action\":\"accept\"}\n");
    CHECK_EQ(action(cfg, "good.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(action(cfg, "evil.example"), RELAY_ACTION_UNLISTED);
    relay_config_free(cfg);
    cfg = load3(NULL, NULL, "[domains]\ngood.example = {\"action\":\"accept\"}\n[old] junk\n"
                            "evil.example = {\"action\":\"accept\"}\n[domains]\nx.example = {\"action\":\"accept\"}\n");
    CHECK_EQ(action(cfg, "evil.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "x.example"), RELAY_ACTION_ACCEPT);
    CHECK_EQ(diag_line(cfg, "ini-invalid-line"), 3);
    relay_config_free(cfg);
    cfg = load3(NULL, NULL, "[domains]\nconstructor = {\"action\":\"accept\"}\n__proto__[] = {\"action\":\"accept\"}\n"
                            "good.example[] = {\"action\":\"accept\"}\n"
                            "bad.example = {\"action\":\"accept\"}\x7f\n");
    CHECK_EQ(action(cfg, "constructor"), RELAY_ACTION_UNLISTED);
    CHECK_EQ(action(cfg, "__proto__"), RELAY_ACTION_UNLISTED);
    CHECK_EQ(action(cfg, "good.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(action(cfg, "bad.example"), RELAY_ACTION_INVALID);
    CHECK_EQ(diag_line(cfg, "ini-unsafe-key"), 2);
    CHECK_EQ(diag_line(cfg, "ini-array-key"), 4);
    CHECK_EQ(diag_line(cfg, "ini-control-char"), 5);
    relay_config_free(cfg);

    /* a long line (1 MB) is read whole */
    static char longline[1 << 20];
    memset(longline, 'a', sizeof longline - 1);
    memcpy(longline, "[relay]\nacl=", 12);
    cfg = load3(longline, NULL, NULL);
    CHECK_EQ(relay_settings(cfg), 0);
    CHECK_EQ(diag_line(cfg, "ini-not-boolean"), 2);
    relay_config_free(cfg);
    return check_result();
}

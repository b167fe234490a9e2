/*
 * settings.c - relay.ini: which of the relay features are on.
 *
 * For: config.c.  Reads [relay] acl, force_routing, dest_domains and all as
 * Haraka reads declared booleans: true, yes, ok, enabled, on and 1 (any
 * case) are true and everything else is false.  Defaults follow the
 * plugin's manual: acl on, the rest off (haraka-plugin-relay 1.0.2's code
 * defaults force_routing to on, against its own manual).  An entry the
 * INI reader marks doubtful (Haraka may read it otherwise) can only turn a
 * switch off; `acl[]` and the like (a list, true to Haraka) are refused.
 */
#include "core.h"

#include <string.h>

/* By enum setting_switch (core.h): config.c finds the line of `all` as
 * line[SWITCH_ALL] and exports.c lists the switches from here, whatever
 * order these entries are written in. */
const struct setting_switch_info settings_switches[SWITCH_COUNT] = {
    [SWITCH_ACL] = {"acl", RELAY_SET_ACL},
    [SWITCH_FORCE_ROUTING] = {"force_routing", RELAY_SET_FORCE_ROUTING},
    [SWITCH_DEST_DOMAINS] = {"dest_domains", RELAY_SET_DEST_DOMAINS},
    [SWITCH_ALL] = {"all", RELAY_SET_ALL},
};

struct load {
    struct settings *s;
    int in_relay;
    int any_header;
    /* switches a doubtful entry may have turned off / on since the last
     * certain one (bits as in s->bits) */
    unsigned maybe_off, maybe_on;
};

/* `name[]`: Haraka makes `name` (the key with its first `[]` taken out) a
 * list, and a list is true to haraka-plugin-relay.  The base name, or NULL. */
static const char *array_base(const char *key, char *buf, size_t size)
{
    size_t n = strlen(key);
    const char *at = strstr(key, "[]");
    if (n <= 2 || strcmp(key + n - 2, "[]") != 0 || n - 2 >= size)
        return NULL;
    size_t i = (size_t)(at - key);
    memcpy(buf, key, i);
    memcpy(buf + i, at + 2, n - i - 2);
    buf[n - 2] = '\0';
    return buf;
}

static int on_entry(void *user, const char *section, const char *key,
                    const char *value, uint32_t line, int doubt, const struct ini_at *at)
{
    (void)at; /* the switches are copied out: no pointer into the text is kept */
    struct load *ld = user;
    struct settings *s = ld->s;
    if (!key) {
        ld->any_header = 1;
        ld->in_relay = strcmp(section, "relay") == 0;
        if (!ld->in_relay)
            diag_add(&s->diags, RELAY_FILE_INI, line, 0, RELAY_WARNING, "ini-unknown-section",
                     "section [%.80s] is not read by the relay plugin (only [relay]); its lines are ignored",
                     section);
        return 1;
    }
    if (!ld->in_relay) {
        if (!ld->any_header)
            diag_add(&s->diags, RELAY_FILE_INI, line, 0, RELAY_WARNING, "ini-unknown-section",
                     "'%.80s' stands before [relay] and is ignored", key);
        return 1;
    }
    char buf[16];
    const char *base = array_base(key, buf, sizeof buf);
    for (size_t i = 0; i < SWITCH_COUNT; i++) {
        if (base && strcmp(base, settings_switches[i].key) == 0) {
            /* may be on in Haraka's reading, never turned on here */
            diag_add(&s->diags, RELAY_FILE_INI, line, 1, RELAY_ERROR, "ini-array-key",
                     "'%.80s' makes %s a list in Haraka, which haraka-plugin-relay takes as "
                     "true; not read (the switch is never turned on by it)", key, base);
            ld->maybe_on |= settings_switches[i].bit;
            return 1;
        }
        if (strcmp(key, settings_switches[i].key) != 0)
            continue;
        if (doubt) {
            /* Haraka may read this line or not: it may turn the switch off,
             * never on (see settings_build) */
            if (ini_is_truth(value))
                ld->maybe_on |= settings_switches[i].bit;
            else
                ld->maybe_off |= settings_switches[i].bit;
            return 1;
        }
        ld->maybe_on &= ~settings_switches[i].bit;
        ld->maybe_off &= ~settings_switches[i].bit;
        if (s->line[i])
            diag_add(&s->diags, RELAY_FILE_INI, line, 1, RELAY_WARNING, "ini-duplicate-key",
                     "'%.80s' is set again (first on line %u); this later value wins, as in Haraka",
                     key, (unsigned)s->line[i]);
        s->line[i] = line;
        if (ini_is_truth(value)) {
            s->bits |= settings_switches[i].bit;
        } else {
            s->bits &= ~settings_switches[i].bit;
            if (!ini_is_false_word(value))
                diag_add(&s->diags, RELAY_FILE_INI, line, 1, RELAY_WARNING, "ini-not-boolean",
                         "'%s = %.80s' is not a truth word (true, yes, ok, enabled, on, 1); read as false",
                         key, value ? value : "");
        }
        return 1;
    }
    diag_add(&s->diags, RELAY_FILE_INI, line, 1, RELAY_WARNING, "ini-unknown-key",
             "'%.80s' is not a setting of [relay] (acl, force_routing, dest_domains, all); ignored", key);
    return 1;
}

int settings_build(struct settings *s, const char *text, size_t len)
{
    memset(s, 0, sizeof *s);
    s->bits = RELAY_SET_DEFAULTS;
    struct load ld = {s, 0, 0, 0, 0};
    if (ini_text_parse(text, len, RELAY_FILE_INI, &s->diags, on_entry, &ld) || s->diags.oom) {
        settings_free(s);
        return -1;
    }
    /* Each switch may end up as s->bits says, or as a doubtful entry after
     * the last certain one says.  Take what allows least in every
     * combination: a switch is on only if it is on in every reading, except
     * dest_domains when all is on for sure: then dest_domains on narrows
     * (only listed domains are relayed), so it is on if on in any reading. */
    unsigned certain = s->bits, low = certain & ~ld.maybe_off, high = certain | ld.maybe_on;
    s->bits = low;
    if (low & RELAY_SET_ALL)
        s->bits = (low & ~RELAY_SET_DEST_DOMAINS) | (high & RELAY_SET_DEST_DOMAINS);
    return 0;
}

void settings_free(struct settings *s)
{
    diag_clear(&s->diags);
    memset(s, 0, sizeof *s);
    s->bits = RELAY_SET_DEFAULTS;
}

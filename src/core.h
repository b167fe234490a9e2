/*
 * core.h - internal interfaces between the parts of the relay core.
 *
 * For: the .c files of src/ only.  The public interface is relay.h.
 * From the bottom layer up (a file calls only the files above it here):
 *   text.c      copying, case folding, growable arrays, JSON strings, lines
 *   fmt.c       the little printf, strtod for cJSON
 *   diag.c      growable list of diagnostics
 *   ini_text.c  Haraka-compatible INI reading on top of inih
 *   addr.c      IPv4 / IPv6 text to 128-bit numbers
 *   acl.c       relay_acl_allow: parse, then a sorted table of CIDR blocks
 *   domains.c   relay_dest_domains.ini: a hash table of domain entries
 *   settings.c  relay.ini [relay] switches
 *   config.c    the three files together, and the checks across them
 *   exports.c   the WebAssembly boundary (declared in no header)
 */
#ifndef RELAY_CORE_H
#define RELAY_CORE_H

#include "relay.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- text.c ---------------------------------------------------------- */

/* A NUL-terminated copy of s[0..len), or NULL when memory ran out. */
char *dup_range(const char *s, size_t len);
/* A-Z to a-z, every other byte as it is (no locale: config names are ASCII). */
int ascii_lower(int c);

/* Room for `need` (>= 1) items of `size` bytes in `items`, an array of
 * *cap items from malloc (NULL when *cap is 0).  The capacity at least
 * doubles (starting at `first`), or becomes `need` when that is more.
 * Returns the array (perhaps moved) with *cap updated, or NULL when memory
 * ran out, leaving `items` and *cap as they were. */
void *grow_array(void *items, size_t *cap, size_t need, size_t size, size_t first);

/* s as a JSON string with its quotes: " and \ escaped, every control
 * character and DEL as \u00XX; other bytes (UTF-8 included) as they are.
 * Writes to out when it is not NULL (no NUL added) and returns the length,
 * so a caller may measure first. */
size_t json_quote(char *out, const char *s);

/* The physical line at *pos (before end), without its line end, as
 * [*s, *s + *n); moves *pos past the line end (CRLF, CR or LF).  *clean,
 * when clean is not NULL: the line is printable ASCII only (0x20-0x7e).
 * Returns 0 when no text is left. */
int text_next_line(const char **pos, const char *end, const char **s, size_t *n,
                   int *clean);

/* ---- diag.c ---------------------------------------------------------- */

struct diag_list {
    struct relay_diagnostic *items;
    size_t count, cap;
    size_t dropped[3]; /* past DIAG_MAX, counted by severity, not kept */
    int oom; /* set when an allocation failed: the whole load fails */
    int quiet; /* while > 0 diagnostics are not kept (ini_text.c's second reading) */
};

/* Most diagnostics kept per file load: a file of a million bad lines must
 * not take a million messages to say so.  The rest are counted. */
#define DIAG_MAX 1000

void diag_add(struct diag_list *list, enum relay_file file, uint32_t line,
              uint32_t column, enum relay_severity sev, const char *code,
              const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void diag_clear(struct diag_list *list);
size_t diag_errors(const struct diag_list *list);
void diag_sort(struct diag_list *list);

/* ---- ini_text.c ------------------------------------------------------ */

/* One `key = value` line (value NULL when the line has no `=`), with the
 * section it stands in ("main" before any section header).  A section
 * header alone is reported with key == NULL.  `doubt`: Haraka may read this
 * entry otherwise or not at all (see ini_text.c), so it may only narrow:
 * turn a switch off, refuse a domain.  `at`: NULL, or (a line of the common
 * shape, see ini_text.c) where key and value stand byte for byte in the
 * text, on a line that is never read again, so a caller that owns the text
 * may keep pointers into it.  Return 0 to stop (out of memory). */
struct ini_at {
    const char *key, *value;
};
typedef int (*ini_entry_fn)(void *user, const char *section, const char *key,
                            const char *value, uint32_t line, int doubt,
                            const struct ini_at *at);

/* Set to 0 (tests only) to read every line the general way: inih, then
 * cJSON, the way the fast paths must agree with (test/c/test_fast.c). */
extern int relay_fast_paths;

/* Reads INI text the way haraka-config does (see ini_text.c) and reports
 * lines it cannot read to diags.  Returns 0, or -1 when memory ran out. */
int ini_text_parse(const char *text, size_t len, enum relay_file file,
                   struct diag_list *diags, ini_entry_fn fn, void *user);

/* JavaScript's \s (and what String.prototype.trim removes) in UTF-8: the
 * length of the one at s / ending at s + n, or 0; skip from i; trim from n
 * down to `from`. */
size_t js_space_at(const char *s, size_t n);
size_t js_space_before(const char *s, size_t n);
size_t js_skip_space(const char *s, size_t n, size_t i);
size_t js_trim_end(const char *s, size_t from, size_t n);

/* Haraka's truth words: true, yes, ok, enabled, on, 1 (any case). */
int ini_is_truth(const char *value);
int ini_is_false_word(const char *value);

/* ---- addr.c ---------------------------------------------------------- */

/* An address as a 128-bit number; IPv4 a.b.c.d is held as ::a.b.c.d in the
 * low 32 bits with family 4. */
struct addr128 {
    uint64_t hi, lo;
};

enum addr_family { ADDR_NONE = 0, ADDR_V4 = 4, ADDR_V6 = 6 };

/* Parses a whole address (no prefix).  ::ffff:a.b.c.d comes back as IPv4.
 * On failure returns ADDR_NONE and, when why is not NULL, a short reason. */
enum addr_family addr_parse(const char *s, size_t len, struct addr128 *out,
                            const char **why);
void addr_mask(struct addr128 *a, unsigned prefix, unsigned bits);
int addr_cmp(const struct addr128 *a, const struct addr128 *b);

/* ---- acl.c ----------------------------------------------------------- */

/* A block while the file is read: where it starts, its prefix and line. */
struct acl_block {
    struct addr128 start; /* network address, host bits clear */
    uint32_t line;
    uint8_t prefix;       /* in bits of its family (0..32 or 0..128) */
};

/* What a lookup needs beyond the start address, kept apart from the starts
 * so the binary search touches only the starts. */
struct acl_info {
    uint32_t line;
    int32_t parent; /* index of the nearest block that holds this one, or -1 */
    uint8_t prefix;
};

/* Blocks of one family sorted by start.  IPv4 starts are 32-bit numbers,
 * IPv6 starts 128-bit; `bucket` maps the top 16 bits of an address to the
 * first block at or after them, so a search covers one bucket's blocks. */
struct acl_table {
    uint32_t *start32;           /* IPv4 */
    struct addr128 *start128;    /* IPv6 */
    struct acl_info *info;
    uint32_t *bucket;            /* 65537 entries, or NULL for small tables */
    size_t count;
    unsigned bits;               /* 32 or 128 */
};

struct acl {
    struct acl_table v4, v6;
    struct diag_list diags;
};

/* Returns 0, or -1 when memory ran out (acl is then empty).  When `owned`
 * is not NULL it is freed once the text has been read. */
int acl_build(struct acl *acl, const char *text, size_t len, char *owned);
void acl_free(struct acl *acl);
/* An enum relay_acl_answer (relay.h), *line set when RELAY_ACL_LISTED. */
int acl_lookup(const struct acl *acl, const char *ip, size_t len,
               uint32_t *line);

/* ---- domains.c ------------------------------------------------------- */

struct domain_entry {
    char *name;    /* lower case */
    char *nexthop; /* JSON text of the route, or NULL; with route_invalid,
                      why the route cannot be used (plain text) */
    uint32_t line;
    uint8_t action;        /* enum relay_action */
    uint8_t route_invalid; /* the nexthop was given but is broken (or two
                              lines give different routes): defer */
    uint8_t borrowed;      /* DOMAIN_NAME_IN_TEXT | DOMAIN_HOP_IN_TEXT: points
                              into the kept text, not malloc'd */
    uint8_t name_len;      /* with DOMAIN_NAME_IN_TEXT: the name's length */
};
#define DOMAIN_NAME_IN_TEXT 1
#define DOMAIN_HOP_IN_TEXT 2

/* A slot of the index: the name's hash, and which entry (index + 1; 0 when
 * the slot is empty).  A probe compares hashes and reads an entry only when
 * they are equal. */
struct domain_slot {
    uint32_t hash;
    uint32_t entry;
};

struct domains {
    struct domain_entry *entries; /* in the order of their first line */
    struct domain_slot *index;    /* open addressing, power-of-two size, at most half full;
                                     a name's first slot is its hash's top bits */
    size_t cap, count, entries_cap;
    unsigned shift;               /* 32 - log2(cap) */
    char *text;                   /* the file's text, kept while entries point into it */
    uint32_t first_line;      /* first entry line, 0 when none */
    uint32_t first_nexthop;   /* first line that gives a nexthop */
    size_t nexthops;          /* how many entries give one */
    size_t suffixes;          /* entries whose key starts with '.' (subdomain
                                 keys): lookups walk the parents only when
                                 there is one */
    uint64_t suffix_labels;   /* bit k: a subdomain key of k labels (bit 63:
                                 63 or more); a parent of another length is
                                 not looked up */
    size_t suffix_notes;      /* dest-suffix-key notes given one by one */
    size_t suffix_more;       /* suffix keys past those, told in one note */
    uint32_t suffix_more_line, suffix_last_line; /* the first and last of them */
    struct diag_list diags;
};

/* Returns 0, or -1 when memory ran out.  `owned`: NULL, or the text itself
 * from malloc, which the domains take (they keep it, or free it). */
int domains_build(struct domains *d, const char *text, size_t len, char *owned);
void domains_free(struct domains *d);
/* The entry of exactly this name (any case), or NULL. */
const struct domain_entry *domains_find(const struct domains *d,
                                        const char *name, size_t len);
/* The entry that decides for a recipient domain (any case): its own key,
 * else the longest subdomain key (".example.com") that is a parent of it,
 * or NULL.  One lookup of the name, then, only when the file has subdomain
 * keys, one per parent, longest first, up to the first hit. */
const struct domain_entry *domains_match(const struct domains *d,
                                         const char *name, size_t len);

/* Checks a route given to get_mx: every form Haraka's HarakaMx takes.
 * Returns NULL when fine, else a reason. */
const char *nexthop_check(const char *s);

/* ---- settings.c ------------------------------------------------------ */

/* The switches of relay.ini, by index: each one's name, bit and line are
 * found by this index, never by its place in a list, so reordering the
 * table in settings.c cannot make one switch's line another's. */
enum setting_switch {
    SWITCH_ACL,
    SWITCH_FORCE_ROUTING,
    SWITCH_DEST_DOMAINS,
    SWITCH_ALL,
    SWITCH_COUNT
};

struct setting_switch_info {
    const char *key; /* its name in [relay] */
    unsigned bit;    /* RELAY_SET_* */
};

/* Indexed by enum setting_switch (settings.c). */
extern const struct setting_switch_info settings_switches[SWITCH_COUNT];

struct settings {
    unsigned bits;
    uint32_t line[SWITCH_COUNT]; /* where each switch was set, 0 for default */
    struct diag_list diags;
};

int settings_build(struct settings *s, const char *text, size_t len);
void settings_free(struct settings *s);

/* ---- fmt.c ------------------------------------------------------------ */

/* snprintf for %s %.*s %.Ns %u %zu %d %x %02x %04x %%: returns the full length. */
size_t fmt(char *buf, size_t size, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
size_t fmt_v(char *buf, size_t size, const char *f, va_list ap);

#endif

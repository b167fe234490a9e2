/*
 * diag.c - the list of diagnostics each parser fills.
 *
 * For: acl.c, domains.c, settings.c, ini_text.c, config.c.  A message is
 * formatted once, when the problem is found; allocation failures set the
 * list's oom flag so the load that produced it can be refused whole.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

void diag_add(struct diag_list *list, enum relay_file file, uint32_t line,
              uint32_t column, enum relay_severity sev, const char *code,
              const char *fmt, ...)
{
    if (list->quiet > 0)
        return;
    if (list->count >= DIAG_MAX) {
        list->dropped[sev]++;
        return;
    }
    if (list->count == list->cap) {
        struct relay_diagnostic *grown =
            grow_array(list->items, &list->cap, list->count + 1, sizeof *grown, 16);
        if (!grown) {
            list->oom = 1;
            return;
        }
        list->items = grown;
    }
    va_list ap;
    va_start(ap, fmt);
    size_t n = fmt_v(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = malloc(n + 1);
    if (!msg) {
        list->oom = 1;
        return;
    }
    va_start(ap, fmt);
    fmt_v(msg, n + 1, fmt, ap);
    va_end(ap);
    /* text quoted from the file may hold control characters: a log line
     * must not carry them (a terminal escape, a line break) */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    struct relay_diagnostic *d = &list->items[list->count++];
    d->file = file;
    d->line = line;
    d->column = column;
    d->severity = sev;
    d->code = code;
    d->message = msg;
    d->seq = (uint32_t)(list->count - 1);
}

void diag_clear(struct diag_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].message);
    free(list->items);
    memset(list, 0, sizeof *list);
}

size_t diag_errors(const struct diag_list *list)
{
    size_t n = list->dropped[RELAY_ERROR];
    for (size_t i = 0; i < list->count; i++)
        n += list->items[i].severity == RELAY_ERROR;
    return n;
}

static int by_place(const void *pa, const void *pb)
{
    const struct relay_diagnostic *a = pa, *b = pb;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    if (a->severity != b->severity)
        return a->severity < b->severity ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void diag_sort(struct diag_list *list)
{
    /* qsort is not stable: without a last key, two diagnostics at one place
     * of one severity would come out in an order of qsort's choosing, which
     * may differ between C libraries (and so between the native and the
     * wasm builds).  Their order in the list is that key. */
    for (size_t i = 0; i < list->count; i++)
        list->items[i].seq = (uint32_t)i;
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, by_place);
}

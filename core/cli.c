/*
 * cli.c: table-driven flag parsing (see cli.h).
 */
#include "core/cli.h"

#include "core/err.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(const char *prog, const CliOpt *opts, int n, const char *about)
{
    printf("%s\n\nusage: %s [flags]\n\n", about, prog);
    for (int i = 0; i < n; i++) {
        const CliOpt *o = &opts[i];
        char def[64] = "";
        switch (o->type) {
        case CLI_FLAG: break;
        case CLI_INT: snprintf(def, sizeof def, " N (default %d)", *(int *)o->value); break;
        case CLI_U64:
            snprintf(def, sizeof def, " N (default %" PRIu64 ")", *(uint64_t *)o->value);
            break;
        case CLI_FLOAT: snprintf(def, sizeof def, " X (default %g)", *(float *)o->value); break;
        case CLI_STR:
            snprintf(def, sizeof def, " S (default %s)",
                     *(const char **)o->value ? *(const char **)o->value : "none");
            break;
        }
        printf("  %s%s\n      %s\n", o->name, def, o->help);
    }
    printf("  --help\n      this text\n");
}

// Parses one value; returns 0 or prints why it is bad and returns 2.
static int parse_value(const CliOpt *o, const char *s)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case CLI_FLAG: *(int *)o->value = 1; return 0;
    case CLI_INT: {
        long v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < -2147483647L || v > 2147483647L) break;
        *(int *)o->value = (int)v;
        return 0;
    }
    case CLI_U64: {
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || end == s || s[0] == '-') break;
        *(uint64_t *)o->value = (uint64_t)v;
        return 0;
    }
    case CLI_FLOAT: {
        float v = strtof(s, &end);
        if (errno || *end || end == s || !isfinite(v)) break;
        *(float *)o->value = v;
        return 0;
    }
    case CLI_STR: *(const char **)o->value = s; return 0;
    }
    fprintf(stderr, "error: %s: '%s' is not a valid %s; hint: see --help\n", o->name, s,
            o->type == CLI_FLOAT ? "number" : "whole number");
    return 2;
}

int cli_parse(int argc, char **argv, const CliOpt *opts, int n_opts, const char *about)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(argv[0], opts, n_opts, about);
            return 0;
        }
        // Accept both "--flag value" and "--flag=value".
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const CliOpt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == len && strncmp(opts[k].name, a, len) == 0) o = &opts[k];
        if (!o) {
            fprintf(stderr, "error: unknown flag '%s'; hint: see %s --help\n", a, argv[0]);
            return 2;
        }
        const char *val = NULL;
        if (o->type != CLI_FLAG) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                fprintf(stderr, "error: %s needs a value; hint: see %s --help\n", o->name,
                        argv[0]);
                return 2;
            }
        } else if (eq) {
            fprintf(stderr, "error: %s takes no value\n", o->name);
            return 2;
        }
        int rc = parse_value(o, val);
        if (rc) return rc;
    }
    return -1;
}

/*
 * cli.h: the command-line flags of every lab and tool, from one table.
 *
 * A program lists its flags once, with their type, default (the variable's initial value) and
 * help; cli_parse fills the variables, prints --help, and rejects unknown flags and bad values
 * with a clear message (a user error: exit code 2, never a crash).
 *
 * Ownership: strings written to CLI_STR variables point into argv (borrowed).
 *
 * Usage:
 *     int steps = 300, quick = 0; float lr = 0.05f; const char *out = "out/week02";
 *     CliOpt opts[] = {
 *         {"--steps", CLI_INT, &steps, "training steps"},
 *         {"--lr", CLI_FLOAT, &lr, "learning rate"},
 *         {"--out", CLI_STR, &out, "output folder"},
 *         {"--quick", CLI_FLAG, &quick, "a fast run (tests, make demo)"},
 *     };
 *     int rc = cli_parse(argc, argv, opts, 4, "week02_foundations: cosine similarity and SGD");
 *     if (rc >= 0) return rc;   // --help (0) or a bad flag (2); -1 means go on
 */
#ifndef CORE_CLI_H
#define CORE_CLI_H

#include <stdint.h>

typedef enum {
    CLI_FLAG,  // int *: set to 1 when present
    CLI_INT,   // int *
    CLI_U64,   // uint64_t * (seeds)
    CLI_FLOAT, // float *
    CLI_STR,   // const char **
} CliType;

typedef struct {
    const char *name; // "--steps"
    CliType type;
    void *value;      // where the parsed value goes; holds the default beforehand
    const char *help;
} CliOpt;

// Parses argv[1..]. Returns -1 when the program should go on, 0 after printing --help, 2 after
// printing an error (unknown flag, missing or malformed value) to stderr.
int cli_parse(int argc, char **argv, const CliOpt *opts, int n_opts, const char *about);

#endif

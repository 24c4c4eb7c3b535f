/*
 * fortune.h: the fortune cookie files (short quotations, jokes and poems) as a list of texts.
 *
 * The Debian package fortunes ships /usr/share/games/fortunes/NAME text files (or
 * $ENGINE_DATA_ROOT/games/fortunes/), each with a NAME.dat random-access table built by
 * strfile. Inside a text file the entries are separated by lines holding only "%":
 *
 *     A day for firm decisions!!!!!  Or is it?
 *     %
 *     A few hours grace before the madness begins again.
 *     %
 *
 * ds_fortunes_load reads every file of that folder that has a .dat sibling (which leaves out
 * the .u8 links and anything that is not a fortune file), in name order, so the list is the
 * same on every machine with the same package. Empty entries are dropped and each text loses
 * its final newline.
 *
 * Ownership: a DsTextList filled by a load owns its strings; ds_text_list_free releases them
 * (NULL and zeroed structs are no-ops). On failure *out is zeroed.
 *
 * Usage:
 *     DsTextList f;
 *     if (ds_fortunes_load(&f) != ERR_OK) die(err_msg());        // names the package
 *     printf("%lld fortunes; the first, from '%s':\n%s\n", (long long)f.n, f.sources[0],
 *            f.texts[0]);
 *     ds_text_list_free(&f);
 */
#ifndef DATASETS_FORTUNE_H
#define DATASETS_FORTUNE_H

#include <stdint.h>

typedef struct {
    int64_t n;
    const char **texts;   // (n) the entries, borrowed from the list
    const char **sources; // (n) the file each came from, without folder ("computers")
    char *storage_;       // internal: the strings point into it
} DsTextList;

// Loads every fortune file of <data root>/games/fortunes. ERR_DEPENDENCY naming the package
// fortunes when the folder is missing or holds no fortune file; otherwise as below.
int ds_fortunes_load(DsTextList *out);

// Loads the fortune files paths[0..n_paths). ERR_IO when one cannot be read, ERR_FORMAT when
// one holds a NUL byte (not a text file; the message gives the offset).
int ds_fortunes_load_files(const char *const *paths, int64_t n_paths, DsTextList *out);

// Frees everything l owns and zeroes it. NULL and zeroed structs are no-ops.
void ds_text_list_free(DsTextList *l);

#endif

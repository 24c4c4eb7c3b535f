/*
 * ds_internal.h: helpers shared by the loaders of datasets/ (not part of the public API).
 *
 * Every loader finds its Debian package's files under one data root, /usr/share by default or
 * $ENGINE_DATA_ROOT when set (the tests point it at an empty folder to see the
 * missing-package error). When a package's file is absent, the loader says which package to
 * install rather than just "no such file".
 */
#ifndef DATASETS_DS_INTERNAL_H
#define DATASETS_DS_INTERNAL_H

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DS_PATH_MAX 4096

// The folder the packages' data paths are relative to (borrowed; from the environment).
static inline const char *ds_data_root(void)
{
    const char *r = getenv("ENGINE_DATA_ROOT");
    return (r && r[0]) ? r : "/usr/share";
}

// buf = "<data root>/<rel>". ERR_RANGE if it does not fit (an absurd ENGINE_DATA_ROOT).
static inline int ds_data_path(char *buf, size_t n, const char *rel)
{
    int k = snprintf(buf, n, "%s/%s", ds_data_root(), rel);
    if (k < 0 || (size_t)k >= n)
        return err_set(ERR_RANGE,
                       "data path %s/%s is longer than %zu bytes; hint: shorten "
                       "ENGINE_DATA_ROOT",
                       ds_data_root(), rel, n);
    return ERR_OK;
}

// ERR_OK when `path` exists; otherwise ERR_DEPENDENCY naming the Debian package to install.
static inline int ds_require_file(const char *path, const char *what, const char *package)
{
    if (access(path, F_OK) == 0) return ERR_OK;
    return err_set(ERR_DEPENDENCY,
                   "%s not found: %s is missing (Debian package %s); "
                   "hint: run `make deps` or `sudo apt-get install %s`",
                   what, path, package, package);
}

#endif

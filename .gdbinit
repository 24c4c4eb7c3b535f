# .gdbinit: the engine's gdb support (docs/gdb.md). gdb reads this file only when the
# repository is in its auto-load safe path:
#     echo "add-auto-load-safe-path $PWD" >> ~/.gdbinit       (once, from the repository root)
# or load it explicitly from the repository root:
#     gdb -x .gdbinit --args build/debug/labs/week02_foundations
# It adds a pretty-printer for Tensor (print *t) and the commands tprint, tgraph, tnonfinite.
source tools/gdb/tensor_printer.py

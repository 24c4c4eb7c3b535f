# tensor_printer.py: gdb support for the engine's Tensor (core/tensor.h).
#
# Loaded by the repository's .gdbinit (see docs/gdb.md). It adds:
#
#   print *t         a Tensor prints as one line:
#                    Tensor "logits" f32 shape=(2, 3) stride=(3, 1) op=matmul grad=yes view=no
#                        data=[0.1, -2, 3.5, ...]
#   tprint EXPR      EXPR is a Tensor or a Tensor *: the same line plus, when grad is set, the
#                    first gradient values (works on a core file too: it only reads memory)
#   tgraph EXPR      calls graph_dump(EXPR, stderr) in the program (needs a live process)
#   tnonfinite EXPR  calls graph_find_nonfinite(EXPR) and prints the tensor it returns
#
# A printer for `Tensor *` exists too but is off by default (printing a pointer normally shows
# the address, and backtraces would read every tensor argument); turn it on with
#   enable pretty-printer global engine;tensor-pointer
# `print/r *t` shows the raw struct.
#
# Values are read in logical (row-major) order through the strides, so a transposed view
# shows its elements as the program sees them. At most MAX_VALUES are shown.

import gdb
import gdb.printing

MAX_VALUES = 8


def _is_tensor_type(t):
    t = t.strip_typedefs()
    return t.code == gdb.TYPE_CODE_STRUCT and t.tag == "Tensor"


def _ints(val, field, n):
    return [int(val[field][i]) for i in range(n)]


def _fmt_float(x):
    return "%.6g" % x


def _op_name(op):
    # str() of an enum value is its enumerator name, e.g. OP_MATMUL; an out-of-range value
    # prints as a number.
    s = str(op)
    return s[3:].lower() if s.startswith("OP_") else s


def _name(val):
    # The name is a char[32]; read up to the first NUL without trusting it to be terminated.
    out = []
    for i in range(32):
        c = int(val["name"][i]) & 0xFF
        if c == 0:
            break
        out.append(chr(c) if 32 <= c < 127 else "?")
    return "".join(out)


def _values(ptr, shape, stride, limit):
    """First `limit` elements of a strided array in row-major order, plus whether more exist."""
    numel = 1
    for d in shape:
        numel *= d
    n = min(numel, limit)
    idx = [0] * len(shape)
    vals = []
    for _ in range(n):
        off = sum(i * s for i, s in zip(idx, stride))
        vals.append((ptr + off).dereference())
        # Advance the multi-index, innermost dim first.
        for d in range(len(shape) - 1, -1, -1):
            idx[d] += 1
            if idx[d] < shape[d]:
                break
            idx[d] = 0
    return vals, numel > n


def _value_list(ptr, shape, stride, is_float, limit=MAX_VALUES):
    if int(ptr) == 0:
        return "NULL"
    try:
        vals, more = _values(ptr, shape, stride, limit)
        text = [_fmt_float(float(v)) if is_float else str(int(v)) for v in vals]
    except gdb.MemoryError:
        return "<unreadable at %s>" % hex(int(ptr))
    return "[" + ", ".join(text + (["..."] if more else [])) + "]"


def tensor_summary(val, with_grad=False):
    """One-line description of a Tensor value (not a pointer)."""
    ndim = int(val["ndim"])
    name = _name(val)
    dtype = str(val["dtype"])
    is_float = dtype == "DT_F32"
    dt = {"DT_F32": "f32", "DT_I32": "i32"}.get(dtype, dtype)
    head = 'Tensor "%s" %s' % (name, dt)
    if not 0 <= ndim <= 4:
        return head + " <bad ndim %d: uninitialised or freed?>" % ndim
    shape = _ints(val, "shape", ndim)
    stride = _ints(val, "stride", ndim)
    if any(d < 0 for d in shape):
        return head + " <bad shape %s>" % (shape,)

    def tup(xs):
        return "(" + ", ".join(str(x) for x in xs) + ("," if len(xs) == 1 else "") + ")"

    grad = val["grad"]
    parts = [
        head,
        "shape=" + tup(shape),
        "stride=" + tup(stride),
        "op=" + _op_name(val["op"]),
        "grad=" + ("yes" if int(grad) != 0 else "no"),
        "view=" + ("yes" if int(val["base"]) != 0 else "no"),
    ]
    data = val["data"] if is_float else val["idata"]
    parts.append("data=" + _value_list(data, shape, stride, is_float))
    if with_grad and int(grad) != 0:
        parts.append("grad_values=" + _value_list(grad, shape, stride, True))
    return " ".join(parts)


class TensorPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return tensor_summary(self.val)


class TensorPointerPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        addr = int(self.val)
        if addr == 0:
            return "(Tensor *) NULL"
        try:
            return "(Tensor *) %s -> %s" % (hex(addr), tensor_summary(self.val.dereference()))
        except gdb.MemoryError:
            return "(Tensor *) %s <unreadable>" % hex(addr)


class _Sub(gdb.printing.SubPrettyPrinter):
    def __init__(self, name, pointer, enabled):
        super().__init__(name)
        self.pointer = pointer
        self.enabled = enabled


class EnginePrinters(gdb.printing.PrettyPrinter):
    def __init__(self):
        super().__init__("engine", [])
        self.struct = _Sub("tensor", False, True)
        self.ptr = _Sub("tensor-pointer", True, False)
        self.subprinters = [self.struct, self.ptr]

    def __call__(self, val):
        t = val.type.strip_typedefs()
        if self.struct.enabled and _is_tensor_type(t):
            return TensorPrinter(val)
        if self.ptr.enabled and t.code == gdb.TYPE_CODE_PTR and _is_tensor_type(t.target()):
            return TensorPointerPrinter(val)
        return None


def _tensor_value(arg):
    v = gdb.parse_and_eval(arg)
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        if not _is_tensor_type(t.target()):
            raise gdb.GdbError("tprint: %s is not a Tensor or Tensor *" % arg)
        if int(v) == 0:
            return None
        return v.dereference()
    if not _is_tensor_type(t):
        raise gdb.GdbError("tprint: %s is not a Tensor or Tensor *" % arg)
    return v


class TPrint(gdb.Command):
    """Print a Tensor or Tensor *: name, dtype, shape, strides, op, grad, view, first values.
Usage: tprint EXPR     (also prints the first gradient values when grad is set)"""

    def __init__(self):
        super().__init__("tprint", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: tprint EXPR")
        v = _tensor_value(arg)
        gdb.write(("NULL" if v is None else tensor_summary(v, with_grad=True)) + "\n")


def _stderr():
    # glibc's stderr often has no debug type; its declared type is FILE *.
    try:
        return gdb.parse_and_eval("(FILE *) stderr")
    except gdb.error:
        return gdb.parse_and_eval("(void *) stderr")


class TGraph(gdb.Command):
    """Dump a Graph's nodes to stderr by calling graph_dump(EXPR, stderr) in the program.
Usage: tgraph GRAPH_EXPR     (needs a running process)"""

    def __init__(self):
        super().__init__("tgraph", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: tgraph GRAPH_EXPR")
        g = gdb.parse_and_eval(arg)
        gdb.parse_and_eval("graph_dump")(g, _stderr())
        gdb.parse_and_eval("(int) fflush((void *) 0)")


class TNonfinite(gdb.Command):
    """Print the first node of a Graph whose output holds NaN or Inf (graph_find_nonfinite).
Usage: tnonfinite GRAPH_EXPR     (needs a running process)"""

    def __init__(self):
        super().__init__("tnonfinite", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: tnonfinite GRAPH_EXPR")
        g = gdb.parse_and_eval(arg)
        t = gdb.parse_and_eval("graph_find_nonfinite")(g)
        if int(t) == 0:
            gdb.write("no node holds NaN or Inf\n")
        else:
            gdb.write(tensor_summary(t.dereference(), with_grad=True) + "\n")


def register(objfile=None):
    gdb.printing.register_pretty_printer(objfile, EnginePrinters(), replace=True)


register()
TPrint()
TGraph()
TNonfinite()

"""dmlc_lib.py - a model built with `dmlc build --lib --dtype f64`, called
through ctypes.

Input:  a .dml file, the dmlc executable, a scratch folder.
Output: Model: each entry point of the library as a Python function of
        numpy arrays, with the shapes the generated header declares.

The one idea: nothing about the model is re-derived here. The header that
dmlc writes beside the library lists every entry point with its symbolic
dimensions, its inputs and its outputs (names, dtypes, shapes); this
module reads that list and calls the entry points by the C ABI the header
documents, so a test passes numbers in and reads dmlc's numbers out.
"""
import ctypes
import os
import re
import subprocess

import numpy as np

DTYPES = {"f64": np.float64, "f32": np.float32, "i32": np.int32, "bool": np.uint8}
ENTRY = re.compile(r"/\* (\w+)\n((?: \*.*\n)+?) \*/\nint32_t \1\(", re.M)
TENSOR = re.compile(r"\[(\d+)\] (\w+): \w+ (\w+)\[([^\]]*)\]")


class Tensor:
    def __init__(self, name, dtype, dims):
        self.name, self.dtype, self.dims = name, dtype, dims

    def shape(self, sizes):
        return tuple(int(d) if d.isdigit() else sizes[d] for d in self.dims)


class Entry:
    """One entry point: its symbolic dimensions, inputs and outputs."""

    def __init__(self, lib, name, comment):
        self.fn = getattr(lib, name)
        self.fn.restype = ctypes.c_int32
        self.fn.argtypes = [ctypes.c_void_p] * 5
        self.workspace = getattr(lib, name + "_workspace")
        self.workspace.restype = ctypes.c_int64
        self.workspace.argtypes = [ctypes.c_void_p]
        dims = re.search(r"dims: (.*)", comment).group(1)
        self.dims = [] if dims.strip() == "none" else re.findall(r"\[\d+\] (\w+)", dims)
        ins, outs = comment.split("outputs:")
        self.inputs = [Tensor(m[1], m[2], [d.strip() for d in m[3].split(",") if d.strip()])
                       for m in TENSOR.findall(ins)]
        self.outputs = [Tensor(m[1], m[2], [d.strip() for d in m[3].split(",") if d.strip()])
                        for m in TENSOR.findall(outs)]


class Model:
    def __init__(self, dmlc, source, folder, name):
        lib = os.path.join(folder, "lib%s.so" % name)
        p = subprocess.run([dmlc, "build", "--lib", "--dtype", "f64", source, "-o", lib],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("dmlc build --lib --dtype f64 %s failed:\n%s" % (source, p.stdout.decode()))
        stem = os.path.splitext(os.path.basename(source))[0]
        with open(os.path.join(folder, stem + ".h")) as f:
            header = f.read()
        self.lib = ctypes.CDLL(lib)
        self.stem = stem
        self.params = [(m[0], m[1], [int(d) for d in m[3].split(",") if d.strip()][:int(m[2])])
                       for m in re.findall(r'\{"(\w+)", "(\w+)", (\d+), \{([^}]*)\}', header)]
        self.entries = {m.group(1)[len(stem) + 1:]: Entry(self.lib, m.group(1), m.group(2))
                        for m in ENTRY.finditer(header)}
        self.error = None
        for sym in (stem + "_error", "dmlrt_error"):  # the library's own, or the shared one
            if hasattr(self.lib, sym):
                self.error = getattr(self.lib, sym)
                self.error.restype = ctypes.c_char_p
                break

    def call(self, entry, sizes, inputs, params):
        """Run an entry point; `inputs` and `params` are lists of arrays in
        the header's order; returns the outputs as float64/int arrays."""
        e = self.entries[entry]
        dims = (ctypes.c_int64 * max(1, len(e.dims)))(*[sizes[d] for d in e.dims])
        keep = []

        def pointers(arrays, specs):
            ptrs = (ctypes.c_void_p * max(1, len(arrays)))()
            for k, (a, t) in enumerate(zip(arrays, specs)):
                want = t.shape(sizes)
                a = np.ascontiguousarray(np.asarray(a, dtype=DTYPES[t.dtype]).reshape(want))
                keep.append(a)
                ptrs[k] = a.ctypes.data
            return ptrs
        if len(inputs) != len(e.inputs):
            raise ValueError("%s takes %d inputs, given %d" % (entry, len(e.inputs), len(inputs)))
        ins = pointers(inputs, e.inputs)
        pars = pointers(params, [Tensor(n, t, [str(d) for d in s]) for n, t, s in self.params])
        outs = [np.zeros(t.shape(sizes), dtype=DTYPES[t.dtype]) for t in e.outputs]
        keep.extend(outs)
        optrs = (ctypes.c_void_p * max(1, len(outs)))(*[o.ctypes.data for o in outs])
        size = e.workspace(dims)
        ws = np.zeros(size + 128, dtype=np.uint8)
        base = ws.ctypes.data
        ws_ptr = ctypes.c_void_p((base + 63) // 64 * 64)
        status = e.fn(dims, ins, pars, optrs, ws_ptr)
        if status != 0:
            msg = self.error().decode() if self.error else "(no error function)"
            raise RuntimeError("%s_%s returned %d: %s" % (self.stem, entry, status, msg))
        return outs

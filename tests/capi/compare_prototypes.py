#!/usr/bin/env python3
"""Compares the prototypes of include/lkcore.h with the ones cgo generates for the //export
functions (build's liblkcore.h): lk_X in the header with its Go implementation lkint_go_X, which
capi/entry.c calls after its fork check. Parameter names and const qualifiers are ignored (cgo
cannot express const); the header's typedefs are mapped to the types cgo uses. Functions
implemented in C alone (lk_status_name, lk_abi_version, lk_free, and lk_data_track_read, which
calls lk_data_track_read_frame) do not appear in cgo's header; the compiler checks those against
lkcore.h directly because capi's C files include it."""
import re
import sys

ALIASES = {
    "lk_client_t": "uint64_t",
    "lk_handle_t": "uint64_t",
    "bool": "_Bool",
    "lk_event_callback": "callback",
    "lkint_event_cb": "callback",
}
C_DEFINED = {"lk_status_name", "lk_abi_version", "lk_free", "lk_data_track_read"}


def prototypes(path):
    src = open(path).read()
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    out = {}
    for m in re.finditer(r"(?:^|\n)\s*(?:extern\s+)?([A-Za-z_][\w\s\*]*?)\b((?:lkint_go_|lk_)\w+)\s*\(([^)]*)\)\s*;", src):
        ret, name, params = m.group(1), m.group(2).replace("lkint_go_", "lk_", 1), m.group(3)
        out[name] = (norm_type(ret), [norm_param(p) for p in params.split(",")] if params.strip() != "void" else [])
    return out


def norm_type(t):
    t = t.replace("const", " ").replace("*", " * ")
    words = [ALIASES.get(w, w) for w in t.split()]
    return " ".join(words)


def norm_param(p):
    p = p.replace("*", " * ").split()
    if len(p) > 1 and p[-1] != "*":
        p = p[:-1]  # drop the parameter name
    return norm_type(" ".join(p))


def main():
    if sys.argv[1] == "--names":
        print("\n".join(sorted(prototypes(sys.argv[2]))))
        return 0
    ours, cgo = prototypes(sys.argv[1]), prototypes(sys.argv[2])
    bad = 0
    for name in sorted(set(ours) | set(cgo)):
        if name in C_DEFINED and name in ours:
            continue
        if name not in ours:
            print(f"{name}: exported by capi but not declared in lkcore.h")
            bad += 1
        elif name not in cgo:
            print(f"{name}: declared in lkcore.h but not exported by capi")
            bad += 1
        elif ours[name] != cgo[name]:
            print(f"{name}: lkcore.h {ours[name]} != capi {cgo[name]}")
            bad += 1
    print(f"prototypes compared: {len(ours)} declared, {len(cgo)} cgo exports, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

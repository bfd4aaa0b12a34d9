#!/usr/bin/env python3
"""Checks every json_pack call in the C sources against its format.

json_pack reads its arguments with va_arg by the format's letters, so an
argument of the wrong width is undefined behaviour that the compiler does
not see. The project's convention makes the width visible at the call:

- "I" (json_int_t): the argument is cast, "(json_int_t)...";
- "i" and "b" (int): the argument is not cast to json_int_t or to another
  64-bit type;
- the number of arguments matches the format.

Usage: check_json_pack.py DIR... (exit 1 and one line per problem).
"""

import os
import re
import sys

WIDE = re.compile(r"^\((json_int_t|u?int64_t|size_t|long|long long|unsigned long|"
                  r"unsigned long long|ssize_t|off_t)\)")


def strip_comments(src):
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " * (j - i) if "\n" not in src[i:j] else
                       "".join(c if c == "\n" else " " for c in src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src[i] in "\"'":
            q, j = src[i], i + 1
            while j < n and src[j] != q:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def split_args(src, start):
    """Arguments of the call whose '(' is at src[start]; returns (args, end)."""
    args, depth, i, cur = [], 0, start + 1, []
    while i < len(src):
        c = src[i]
        if c in "\"'":
            j = i + 1
            while src[j] != c:
                j += 2 if src[j] == "\\" else 1
            cur.append(src[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return args, i
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    raise ValueError("unbalanced call")


def literal(expr):
    """The value of a C string literal (adjacent literals joined), or None."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
    if not parts or re.sub(r'"((?:[^"\\]|\\.)*)"', "", expr).strip():
        return None
    return "".join(parts)


def conversions(fmt):
    """The argument kinds the format consumes, in order."""
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        i += 1
        if c in "{}[]:, \t\n":
            continue
        if c == "s":
            out.append("s")
            if i < len(fmt) and fmt[i] == "#":
                out.append("len-int")
                i += 1
            elif i < len(fmt) and fmt[i] == "%":
                out.append("len-size_t")
                i += 1
            elif i < len(fmt) and fmt[i] in "?*":
                i += 1
        elif c in "oO":
            out.append("json")
            if i < len(fmt) and fmt[i] in "?*":
                i += 1
        elif c in "biIf":
            out.append(c)
        elif c == "n":
            pass
        else:
            out.append("?" + c)
    return out


def check_file(path):
    problems = []
    src = strip_comments(open(path, encoding="utf-8").read())
    for m in re.finditer(r"\bjson_pack\s*\(", src):
        line = src.count("\n", 0, m.start()) + 1
        args, _ = split_args(src, m.end() - 1)
        fmt = literal(args[0])
        where = "%s:%d" % (path, line)
        if fmt is None:
            problems.append("%s: the format is not a string literal" % where)
            continue
        kinds = conversions(fmt)
        vals = args[1:]
        if len(kinds) != len(vals):
            problems.append("%s: format %r takes %d arguments, the call passes %d" %
                            (where, fmt, len(kinds), len(vals)))
            continue
        for n, (k, v) in enumerate(zip(kinds, vals), 1):
            flat = " ".join(v.split())
            if k.startswith("?"):
                problems.append("%s: unknown conversion %r in %r" % (where, k[1:], fmt))
            elif k == "I" and not flat.startswith("(json_int_t)"):
                problems.append("%s: argument %d (%s) for 'I' is not cast to json_int_t" %
                                (where, n, flat))
            elif k in ("i", "b", "len-int") and WIDE.match(flat):
                problems.append("%s: argument %d (%s) for '%s' (int) is a 64-bit value: use "
                                "'I' with (json_int_t), or cast to int" % (where, n, flat, k))
    return problems


def main(dirs):
    problems, calls = [], 0
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if name.endswith(".c"):
                p = os.path.join(d, name)
                calls += len(re.findall(r"\bjson_pack\s*\(", strip_comments(open(p).read())))
                problems += check_file(p)
    for p in problems:
        print(p)
    print("%d json_pack calls, %d problems" % (calls, len(problems)))
    return 1 if problems or not calls else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src"]))

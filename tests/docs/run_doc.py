#!/usr/bin/env python3
"""run_doc.py - run the console examples of one Markdown file and compare
their output with the text the file shows.

Input:  the dmlc executable, the source tree, one .md file.
Output: nothing and exit 0 when every example prints what the doc says;
        otherwise a diff per example (file:line of the command) and exit 1.

The one idea: the doc is the test. A ```console block holds commands
(`$ ` lines, a trailing `\\` continues one) each followed by its expected
output (standard output and standard error, as one stream). Every block
of a file runs in one scratch folder, in the order of the file, as one
terminal session would, with a copy of examples/ and tests/gradcheck/ and
the build folder (dmlc, libdmlrt.a, codegen_diff) first on PATH;
a code block whose first line names a file (`// tiny.dml`, `# read.py`)
writes that file there first, so the examples see exactly the files the
doc shows. Any other ```dml block is a program that must check without a
diagnostic (the types its lets claim, for instance). Nothing is guessed:
where output legitimately varies (times, temporary names), an HTML comment
just before the block says how it is normalised, and the reader of the
doc sees that comment in the source:

    <!-- doc-test: skip WHY -->          the block is not run (or checked)
    <!-- doc-test: sub /REGEX/TEXT/ -->  re.sub on both the doc's text and
                                         the output, multi-line (any
                                         delimiter after sub;
                                         {work} in REGEX is the scratch folder)
    <!-- doc-test: approx REL -->        numbers may differ by REL relative to
                                         the larger: figures that depend on
                                         the CPU in their last digits
    <!-- doc-test: xfail WHY -->         a known defect makes the output
                                         differ from the (correct) doc; the
                                         test fails once it no longer does
    <!-- doc-test: cpu FLAG -->          run the block only on a CPU with FLAG
                                         (/proc/cpuinfo): assembly, vector
                                         widths
    <!-- doc-test: output COMMAND -->    the next block is what COMMAND prints
    <!-- doc-test: file NAME -->         the next code block is file NAME
    <!-- doc-test: setup COMMAND -->     run COMMAND (output ignored, must
                                         succeed) before the block
    <!-- doc-test: timeout SECONDS -->   for a block that trains longer

A directive applies to the next fenced block only; `doc-test: every D`
applies D to every block after it.
"""
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(```+)\s*([A-Za-z0-9_+-]*)\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$")
NAMED_FILE = re.compile(r"^\s*(?://|#)\s*([A-Za-z0-9_./-]+\.(?:dml|py|csv|c|h|sh|txt))(?::.*)?\s*$")
NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_0-9])")
MARK = "@@doc-test %d@@"
WORDS = ("skip", "sub", "approx", "xfail", "cpu", "output", "file", "setup", "timeout")


class Block:
    def __init__(self, lang, start, lines, directives):
        self.lang, self.start, self.lines, self.directives = lang, start, lines, directives


def read_blocks(path):
    """Fenced blocks in order, each with the doc-test directives before it."""
    blocks, pending, every = [], [], []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        d = DIRECTIVE.match(lines[i])
        m = FENCE.match(lines[i])
        if d:
            text, lasting = d.group(1), d.group(1).startswith("every ")
            text = text[len("every "):] if lasting else text
            if text.split(" ")[0] not in WORDS:
                raise SystemExit("%s:%d: unknown doc-test directive `%s` (known: %s)"
                                 % (path, i + 1, text.split(" ")[0], ", ".join(WORDS)))
            (every if lasting else pending).append(text)
        elif m:
            fence, lang, start = m.group(1), m.group(2), i + 1
            body = []
            i += 1
            while i < len(lines) and lines[i].rstrip() != fence:
                body.append(lines[i])
                i += 1
            blocks.append(Block(lang, start, body, every + pending))
            pending = []
        elif lines[i].strip() and pending:
            raise SystemExit("%s:%d: a doc-test directive must stand just before a fenced block"
                             % (path, i + 1))
        i += 1
    return blocks


def is_console(block):
    """A console block, a plain one that starts with a command, or one
    the doc says a command prints."""
    return block.lang == "console" or bool(directive_args(block, "output")) or (
        block.lang in ("", "text", "sh", "shell") and bool(block.lines) and block.lines[0].startswith("$ "))


def parse_console(block):
    """[(line number, command, expected output lines)] of a console block,
    or of a block shown as the output of a command (doc-test: output)."""
    shown = directive_args(block, "output")
    if shown:
        return [(block.start, shown[0], list(block.lines))]
    cmds = []
    i = 0
    while i < len(block.lines):
        line = block.lines[i]
        if not line.startswith("$ "):
            raise SystemExit("%s:%d: console block does not start with a `$ ` command"
                             % (DOC, block.start + 1 + i))
        lineno, cmd = block.start + 1 + i, line[2:]
        while cmd.endswith("\\") and i + 1 < len(block.lines):
            i += 1
            cmd = cmd + "\n" + block.lines[i]
        i += 1
        out = []
        while i < len(block.lines) and not block.lines[i].startswith("$ "):
            out.append(block.lines[i])
            i += 1
        cmds.append((lineno, cmd, out))
    return cmds


def directive_args(block, word):
    return [d[len(word):].strip() for d in block.directives if d == word or d.startswith(word + " ")]


def normaliser(block, work):
    subs = []
    for arg in directive_args(block, "sub"):
        if len(arg) < 3:
            raise SystemExit("%s:%d: doc-test sub needs /REGEX/TEXT/" % (DOC, block.start))
        sep = arg[0]
        parts = arg[1:].split(sep)
        if len(parts) < 3 or parts[2] != "":
            raise SystemExit("%s:%d: doc-test sub needs %sREGEX%sTEXT%s" % (DOC, block.start, sep, sep, sep))
        subs.append((re.compile(parts[0].replace("{work}", re.escape(work)), re.M), parts[1]))
    def norm(text):
        for rx, rep in subs:
            text = rx.sub(rep, text)
        return text
    return norm


def check_clean(block, dmlc, work, env):
    """A DML program the doc shows without naming it is one that checks
    without a diagnostic: the types its lets claim, for instance."""
    path = os.path.join(work, "doc_block_%d.dml" % block.start)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(block.lines) + "\n")
    p = subprocess.run([dmlc, "check", path], cwd=work, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    os.remove(path)
    if p.returncode == 0 and not p.stdout:
        return 0
    print("%s:%d: this DML program does not check clean (`dmlc check` of the block):" % (DOC, block.start))
    print(p.stdout.decode("utf-8", "replace").replace(path, "block"))
    return 1


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return []


def scratch_folder(top, tmp):
    work = os.path.join(tmp, "work")
    os.makedirs(os.path.join(work, "tests"))
    shutil.copytree(os.path.join(top, "examples"), os.path.join(work, "examples"))
    shutil.copytree(os.path.join(top, "tests", "gradcheck"), os.path.join(work, "tests", "gradcheck"))
    os.makedirs(os.path.join(tmp, "home"))
    return work


def environment(dmlc, tmp):
    """The build folder (dmlc, libdmlrt.a, the test programs) first on
    PATH, a home of our own, nothing of the caller's that changes dmlc."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.path.abspath(dmlc)) + os.pathsep + env.get("PATH", "")
    env["HOME"] = os.path.join(tmp, "home")
    for k in ("DMLC_CACHE", "XDG_CACHE_HOME", "DMLC_STDLIB", "DMLC_RUNTIME", "OPENBLAS_NUM_THREADS",
              "OMP_NUM_THREADS", "CC", "CFLAGS", "COLUMNS"):
        env.pop(k, None)
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    return env


def run_block(block, cmds, work, env, state, timeout):
    """Run the commands of a block in one shell; the output of each. The
    exported variables and the folder carry over to the next block, as in
    one terminal session."""
    # the mark keeps $? so that a shown `echo $?` reads the command's status
    script = ["exec 2>&1", "__doc_test_mark() { local rc=$?; printf '\\n%s\\n' \"$1\"; return $rc; }",
              "if [ -f %s ]; then . %s; cd \"$__doc_test_pwd\"; fi" % (state, state)]
    for setup in directive_args(block, "setup"):
        script.append("{ %s ; } >/dev/null || { echo 'doc-test setup failed: %s'; exit 99; }"
                      % (setup, setup.replace("'", "")))
    for k, (_, cmd, _) in enumerate(cmds):
        script.append("__doc_test_mark '%s'" % (MARK % k))
        script.append(cmd)
    script.append("__doc_test_mark '%s'" % (MARK % len(cmds)))
    script.append("export __doc_test_pwd=\"$PWD\"; export -p > %s" % state)
    try:
        p = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, timeout=timeout)
        text = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace") + "\n[doc-test: timed out after %d s]\n" % timeout
    outs = []
    for k in range(len(cmds)):
        a = text.find("\n" + MARK % k + "\n")
        b = text.find("\n" + MARK % (k + 1) + "\n")
        if a < 0:
            outs.append(None)
            continue
        a += len(MARK % k) + 2
        outs.append(text[a:] if b < 0 else text[a:b])
    if "doc-test setup failed" in text.split(MARK % 0)[0]:
        raise SystemExit("%s:%d: %s" % (DOC, block.start, text.split("\n")[0]))
    return outs


def line_equal(rel):
    """Equality of two lines; with a tolerance, their numbers may differ by
    that much relative to the larger, and the rest must be equal."""
    if rel is None:
        return lambda a, b: a == b

    def eq(a, b):
        if NUMBER.sub("#", a) != NUMBER.sub("#", b):
            return False
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
            x, y = float(x), float(y)
            if abs(x - y) > rel * max(abs(x), abs(y)):
                return False
        return True
    return eq


def matches(want, got, eq):
    """Whether the output lines match the doc's, where a `...` line of the
    doc stands for any number of lines."""
    def same(w, g):
        return len(w) == len(g) and all(eq(a, b) for a, b in zip(w, g))
    if "..." not in want:
        return same(want, got)
    parts, cur = [], []
    for line in want:
        if line == "...":
            parts.append(cur)
            cur = []
        else:
            cur.append(line)
    parts.append(cur)
    first, last, middle = parts[0], parts[-1], parts[1:-1]
    if not same(first, got[:len(first)]):
        return False
    pos, end = len(first), len(got) - len(last)
    if end < pos or not same(last, got[end:]):
        return False
    for seg in middle:
        k = next((j for j in range(pos, end - len(seg) + 1) if same(seg, got[j:j + len(seg)])), None)
        if k is None:
            return False
        pos = k + len(seg)
    return True


def main():
    global DOC
    if len(sys.argv) != 4:
        raise SystemExit("usage: run_doc.py DMLC TOP DOC.md")
    dmlc, top, DOC = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    blocks = read_blocks(DOC)
    tmp = tempfile.mkdtemp(prefix="dmlc-doctest-")
    failures = commands = skipped = known = 0
    try:
        work = scratch_folder(top, tmp)
        env = environment(dmlc, tmp)
        for block in blocks:
            named = directive_args(block, "file")
            m = NAMED_FILE.match(block.lines[0]) if block.lines else None
            if named or (not is_console(block) and m):
                name = named[0] if named else m.group(1)
                path = os.path.join(work, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write("\n".join(block.lines) + "\n")
                continue
            if block.lang == "dml" and not directive_args(block, "skip") and not is_console(block):
                failures += check_clean(block, dmlc, work, env)
                continue
            if not is_console(block):
                continue
            cmds = parse_console(block)
            missing = [f for f in directive_args(block, "cpu") if f not in cpu_flags()]
            if directive_args(block, "skip") or missing:
                skipped += len(cmds)
                if missing:
                    print("%s:%d: not run: this CPU lacks %s (doc-test: cpu)" % (DOC, block.start, missing[0]))
                continue
            timeout = int((directive_args(block, "timeout") or ["300"])[0])
            norm = normaliser(block, work)
            approx = directive_args(block, "approx")
            eq = line_equal(float(approx[0]) if approx else None)
            xfail = directive_args(block, "xfail")
            outs = run_block(block, cmds, work, env, os.path.join(tmp, "state"), timeout)
            differ = []
            for (lineno, cmd, want), got in zip(cmds, outs):
                commands += 1
                want_text = norm("\n".join(want).rstrip("\n"))
                got_text = norm((got if got is not None else "[doc-test: the command did not run]").rstrip("\n"))
                if not matches(want_text.split("\n"), got_text.split("\n"), eq):
                    differ.append((lineno, cmd, want_text, got_text))
            if xfail and not differ:
                failures += 1
                print("%s:%d: the block prints what the doc shows now: remove `doc-test: xfail %s`"
                      % (DOC, block.start, xfail[0]))
            elif xfail:
                known += 1
                print("%s:%d: differs as expected (doc-test: xfail %s):" % (DOC, block.start, xfail[0]))
            for lineno, cmd, want_text, got_text in differ:
                failures += 0 if xfail else 1
                print("%s:%d: `%s` printed something else than the doc shows:" % (DOC, lineno, cmd))
                diff = difflib.unified_diff(want_text.split("\n"), got_text.split("\n"),
                                            "doc", "output", lineterm="", n=2)
                print("\n".join(list(diff)[2:]))
                print()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d commands run, %d differ, %d blocks known to differ (doc-test: xfail), %d not run (doc-test: skip, cpu)"
          % (os.path.basename(DOC), commands, failures, known, skipped))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

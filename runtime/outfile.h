/* outfile.h - writing an output file without clobbering what is not ours
 * (outfile.c). Every file dmlc and a model executable write goes through
 * it: `dmlc build -o`, --lib's header, `dmlc run`'s cache, and --save,
 * --plot and --log.
 *
 * What the path names decides how it is written:
 *  - nothing yet, or a regular file we may write: the output goes to
 *    TARGET.tmp.PID in the same folder (with the old file's permissions)
 *    and is renamed over TARGET when complete, so a reader (or a crash)
 *    sees the old file or the new one, never half of one;
 *  - a symbolic link: followed; the file it leads to is replaced as above,
 *    in that file's folder, and the link stays a link;
 *  - a character device or a FIFO (/dev/null, a named pipe): opened and
 *    written in place, never replaced;
 *  - a directory, a block device or a socket: refused.
 * A TARGET.tmp.PID left by a process that died (PID is gone), owned by
 * us, is removed when TARGET is next written.
 *
 * Functions that can fail return NULL, or why: a static string or
 * strerror's; the caller says "cannot write PATH: WHY". */
#ifndef DML_OUTFILE_H
#define DML_OUTFILE_H
#include <stdbool.h>
#include <stdio.h>

typedef struct OutFile {
  char *target;        /* the path, its symbolic links followed */
  char *tmp;           /* written instead of target until the commit; NULL: in place */
  char *staged;        /* in place, for a program that wants a path: a file in TMPDIR copied into target */
  int fd;              /* open on tmp, or on target in place; -1 once handed to a program */
  FILE *stream;        /* on fd: where the output is written */
} OutFile;

/* Plan the write and open what is written, as o->stream: TARGET.tmp.PID,
 * or the target itself in place (a FIFO's open waits for its reader). */
const char *outfile_open(OutFile *o, const char *path);
/* Instead of o->stream: a path another program (the linker, LLVM) writes
 * the whole output into. */
const char *outfile_path_for_program(OutFile *o);
/* Give the output its name now and keep writing: a log followed as it
 * grows. Commit then only flushes. */
const char *outfile_publish(OutFile *o);
/* Flush to the disk (a write error on the stream is reported here), rename
 * over the target (or copy the staged file into it) and close. On failure
 * nothing is left but what was published. */
const char *outfile_commit(OutFile *o);
void outfile_discard(OutFile *o);
/* Whether outfile_open would succeed, without waiting for a FIFO's
 * reader and without leaving anything behind. */
const char *outfile_check(const char *path);

#endif

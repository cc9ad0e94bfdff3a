/* outfile.c - writing an output file without clobbering what is not ours.
 *
 * Input:  a path a user named as an output (-o, --save, --plot, --log).
 * Output: that path's file written whole, or nothing changed and a reason.
 *
 * The one idea: look at what the path names before writing (see
 * outfile.h). Only a regular file may be replaced, and only by a rename
 * within its own folder, so that what a symbolic link, a device or a pipe
 * is stays what it was: `-o /dev/null` run as root once replaced the
 * system's /dev/null with an executable. Compiled into both dmlc and
 * libdmlrt. */
#define _GNU_SOURCE
#include "outfile.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_LINKS = 40 }; /* as the kernel's limit on links followed in a path */

static const char *out_of_memory(void) { return strerror(ENOMEM); }

/* path's folder ("." for a bare name), freshly allocated. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

/* The path with the symbolic links of its last component followed, so that
 * the file replaced is the one the link leads to (a link whose target does
 * not exist yet leads to a new file there). Links in the folders of the
 * path need no following: a rename goes through them. */
static char *follow_links(const char *path, const char **why) {
  char *p = strdup(path);
  for (int hops = 0; p; hops++) {
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == MAX_LINKS) {
      free(p);
      *why = strerror(ELOOP);
      return NULL;
    }
    char link[PATH_MAX];
    ssize_t n = readlink(p, link, sizeof link - 1);
    if (n < 0) {
      free(p);
      *why = strerror(errno);
      return NULL;
    }
    link[n] = 0;
    char *next = NULL, *folder = folder_of(p);
    if (link[0] == '/') next = strdup(link);
    else if (folder && asprintf(&next, "%s/%s", folder, link) < 0) next = NULL;
    free(folder);
    free(p);
    p = next;
  }
  *why = out_of_memory();
  return NULL;
}

/* What kind of file is there: 0 for nothing or a regular file (replaced;
 * *mode its permissions, 0 for none), 1 for a device or FIFO written in
 * place, or -1 and a refusal in *why. A file we may not write is not
 * replaced either, though its folder would let us. */
static int kind_of(const char *target, const char **why, mode_t *mode) {
  struct stat st;
  *mode = 0;
  if (stat(target, &st) != 0) {
    if (errno == ENOENT) return 0;
    *why = strerror(errno);
    return -1;
  }
  if (S_ISREG(st.st_mode) && access(target, W_OK) != 0) {
    *why = strerror(errno);
    return -1;
  }
  *mode = st.st_mode & 0777;
  if (S_ISREG(st.st_mode)) return 0;
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return 1;
  *why = S_ISDIR(st.st_mode) ? "it is a directory"
         : S_ISBLK(st.st_mode) ? "it is a block device (only regular files, character devices and FIFOs are written)"
         : "it is a socket or another special file (only regular files, character devices and FIFOs are written)";
  return -1;
}

/* NAME.tmp.PID -> PID, or 0 if entry is not a temporary of NAME. */
static long tmp_owner_pid(const char *entry, const char *name) {
  size_t len = strlen(name);
  if (strncmp(entry, name, len) != 0 || strncmp(entry + len, ".tmp.", 5) != 0) return 0;
  const char *digits = entry + len + 5;
  char *end;
  long pid = strtol(digits, &end, 10);
  return *digits >= '1' && *digits <= '9' && !*end && pid > 0 ? pid : 0;
}

/* Remove the TARGET.tmp.PID files that killed writers left: those of a
 * process that no longer exists, and our own PID's, which a dead process
 * of the same number left (this process has none open: one write per
 * target at a time). Only files we own; only regular files. */
static void remove_stale_temporaries(const char *target) {
  char *folder = folder_of(target);
  const char *slash = strrchr(target, '/'), *name = slash ? slash + 1 : target;
  DIR *dir = folder ? opendir(folder) : NULL;
  for (struct dirent *e; dir && (e = readdir(dir)) != NULL;) {
    long pid = tmp_owner_pid(e->d_name, name);
    if (!pid || (pid != (long)getpid() && (pid > INT_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH))) continue;
    struct stat st;
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
      unlinkat(dirfd(dir), e->d_name, 0);
  }
  if (dir) closedir(dir);
  free(folder);
}

/* The folder holding path, synced so that a rename in it is durable. Some
 * file systems cannot sync a directory; that is not a failed write. */
static int sync_folder(const char *path) {
  char *folder = folder_of(path);
  int fd = folder ? open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  int e = !folder ? ENOMEM : fd < 0 ? errno : fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  if (fd >= 0) close(fd);
  free(folder);
  return e;
}

static void release(OutFile *o) {
  if (o->stream) fclose(o->stream);
  else if (o->fd >= 0) close(o->fd);
  if (o->staged) unlink(o->staged);
  free(o->target);
  free(o->tmp);
  free(o->staged);
  *o = (OutFile){.fd = -1};
}

const char *outfile_open(OutFile *o, const char *path) {
  *o = (OutFile){.fd = -1};
  const char *why = NULL;
  o->target = follow_links(path, &why);
  mode_t mode = 0;
  int kind = o->target ? kind_of(o->target, &why, &mode) : -1;
  if (kind == 1) {
    o->fd = open(o->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (o->fd < 0) why = strerror(errno);
  } else if (kind == 0) {
    remove_stale_temporaries(o->target);
    if (asprintf(&o->tmp, "%s.tmp.%ld", o->target, (long)getpid()) < 0) o->tmp = NULL, why = out_of_memory();
    else if ((o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
      why = strerror(errno);
      free(o->tmp); /* not ours to remove: whatever is there under that name */
      o->tmp = NULL;
    } else if (mode) {
      fchmod(o->fd, mode); /* the file replaced keeps its permissions */
    }
  }
  if (!why && !(o->stream = fdopen(o->fd, "w"))) why = strerror(errno);
  if (why) outfile_discard(o);
  return why;
}

const char *outfile_path_for_program(OutFile *o) {
  if (o->tmp) { /* the program makes the file anew there: our descriptor would be of the old one */
    if (o->stream) fclose(o->stream);
    o->stream = NULL;
    o->fd = -1;
    return o->tmp;
  }
  if (!o->staged) {
    const char *dir = getenv("TMPDIR");
    if (asprintf(&o->staged, "%s/dmlc-out-XXXXXX", dir && *dir ? dir : "/tmp") < 0) return o->staged = NULL;
    int fd = mkstemp(o->staged);
    if (fd < 0) {
      free(o->staged);
      return o->staged = NULL;
    }
    close(fd);
  }
  return o->staged;
}

/* 0 or an errno: flush what was written into the open descriptor and sync
 * it (a device or FIFO cannot be synced, which is no error). */
static int flush_and_sync(OutFile *o) {
  /* after a failed write, errno still says why: later calls that succeed leave it */
  if (o->stream && (fflush(o->stream) != 0 || ferror(o->stream))) return errno ? errno : EIO;
  int fd = o->stream ? fileno(o->stream) : o->fd;
  if (fd < 0 && o->tmp) fd = o->fd = open(o->tmp, O_RDONLY | O_CLOEXEC); /* a program wrote it */
  if (fd < 0) return errno;
  return fsync(fd) == 0 || errno == EINVAL || errno == EROFS ? 0 : errno;
}

/* All n bytes of buf into fd; 0 or an errno. */
static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w == 0 ? EIO : errno;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The staged file's bytes into the target opened in place. */
static int copy_staged(OutFile *o) {
  int in = open(o->staged, O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno;
  char buf[1 << 16];
  int e = 0;
  for (ssize_t n; !e && (n = read(in, buf, sizeof buf)) != 0;)
    e = n > 0 ? write_all(o->fd, buf, (size_t)n) : errno == EINTR ? 0 : errno;
  close(in);
  return e;
}

const char *outfile_publish(OutFile *o) {
  int e = flush_and_sync(o);
  if (!e && o->tmp && rename(o->tmp, o->target) != 0) e = errno;
  if (!e && o->tmp) e = sync_folder(o->target);
  if (e) {
    outfile_discard(o);
    return strerror(e);
  }
  free(o->tmp); /* from now on the descriptor writes the target itself */
  o->tmp = NULL;
  return NULL;
}

const char *outfile_commit(OutFile *o) {
  int e = o->staged ? copy_staged(o) : 0; /* o->stream holds nothing then */
  if (!e) e = flush_and_sync(o);
  if (!e && o->tmp && rename(o->tmp, o->target) != 0) e = errno;
  if (!e && o->tmp) {
    free(o->tmp); /* renamed: nothing to remove */
    o->tmp = NULL;
    e = sync_folder(o->target);
  }
  if (o->stream && fclose(o->stream) != 0 && !e) e = errno ? errno : EIO;
  else if (!o->stream && o->fd >= 0 && close(o->fd) != 0 && !e) e = errno;
  o->stream = NULL;
  o->fd = -1;
  outfile_discard(o);
  return e ? strerror(e) : NULL;
}

void outfile_discard(OutFile *o) {
  if (o->tmp) unlink(o->tmp);
  release(o);
}

const char *outfile_check(const char *path) {
  const char *why = NULL;
  char *target = follow_links(path, &why);
  mode_t mode;
  int kind = target ? kind_of(target, &why, &mode) : -1;
  if (kind == 1 && access(target, W_OK) != 0) why = strerror(errno);
  free(target);
  if (kind != 0) return why;
  OutFile o;
  why = outfile_open(&o, path); /* the same temporary in the same folder as the real write */
  outfile_discard(&o);
  return why;
}

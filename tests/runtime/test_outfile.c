/* test_outfile.c - outputs never clobber what is not ours (outfile.c): a
 * regular file is replaced whole, a symbolic link is followed and stays a
 * link, a device or FIFO is written in place and stays what it was, a
 * directory or socket is refused, temporaries of dead writers are
 * removed. Files go to a fresh folder under /tmp; the device nodes need
 * root (mknod) and are skipped, with a message, without it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "outfile.h"

static int failures;
static char folder[] = "/tmp/test_outfile-XXXXXX";

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                               \
    }                                                                           \
  } while (0)

static const char *path_in(const char *name) {
  static char paths[8][512];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 512, "%s/%s", folder, name);
  return p;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write test file %s\n", path);
    exit(2);
  }
}

/* The whole file as a string ("" if it cannot be read). */
static const char *read_text(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = 0;
  if (f) fclose(f);
  return buf;
}

/* Write text to path through outfile_open and outfile_commit; NULL or why. */
static const char *put(const char *path, const char *text) {
  OutFile o;
  const char *why = outfile_open(&o, path);
  if (why) return why;
  fputs(text, o.stream);
  return outfile_commit(&o);
}

/* Names in folder (and its subfolder sub) that contain ".tmp.". */
static int temporaries(void) {
  int n = 0;
  const char *dirs[2] = {folder, path_in("sub")};
  for (int i = 0; i < 2; i++) {
    DIR *d = opendir(dirs[i]);
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
  }
  return n;
}

static ino_t inode_of(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 ? st.st_ino : 0;
}

static bool is_link(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* ---- regular files and symbolic links --------------------------------------------- */

static void test_regular(void) {
  const char *path = path_in("new.txt");
  CHECK(put(path, "first\n") == NULL);
  CHECK(!strcmp(read_text(path), "first\n"));
  ino_t before = inode_of(path);
  CHECK(put(path, "second\n") == NULL); /* a new file renamed over the old one */
  CHECK(!strcmp(read_text(path), "second\n"));
  CHECK(inode_of(path) != before);
  CHECK(temporaries() == 0);
  /* discarded: the old file stays, nothing else is left */
  OutFile o;
  CHECK(outfile_open(&o, path) == NULL);
  fputs("never", o.stream);
  outfile_discard(&o);
  CHECK(!strcmp(read_text(path), "second\n"));
  CHECK(temporaries() == 0);
  /* the file replaced keeps its permissions; one we may not write is refused */
  chmod(path, 0600);
  CHECK(put(path, "third\n") == NULL);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  if (geteuid() != 0) { /* root may write anything */
    chmod(path, 0444);
    CHECK(!strcmp(put(path, "x") ?: "", strerror(EACCES)));
    CHECK(!strcmp(read_text(path), "third\n"));
  }
  /* a missing folder is the open's error */
  CHECK(!strcmp(put(path_in("missing/x.txt"), "x") ?: "", strerror(ENOENT)));
}

static void test_links(void) {
  mkdir(path_in("sub"), 0755);
  write_text(path_in("sub/real.txt"), "old\n");
  CHECK(symlink("sub/real.txt", path_in("link.txt")) == 0); /* relative to the link's folder */
  CHECK(put(path_in("link.txt"), "new\n") == NULL);
  CHECK(is_link(path_in("link.txt")));
  CHECK(!strcmp(read_text(path_in("sub/real.txt")), "new\n"));
  CHECK(temporaries() == 0);
  /* a chain of links, the last one absolute */
  CHECK(symlink(path_in("sub/real.txt"), path_in("sub/abs.txt")) == 0);
  CHECK(symlink("sub/abs.txt", path_in("chain.txt")) == 0);
  CHECK(put(path_in("chain.txt"), "chained\n") == NULL);
  CHECK(is_link(path_in("chain.txt")) && is_link(path_in("sub/abs.txt")));
  CHECK(!strcmp(read_text(path_in("sub/real.txt")), "chained\n"));
  /* a link to nothing yet makes the file it names */
  CHECK(symlink("sub/later.txt", path_in("dangling.txt")) == 0);
  CHECK(put(path_in("dangling.txt"), "made\n") == NULL);
  CHECK(is_link(path_in("dangling.txt")) && !strcmp(read_text(path_in("sub/later.txt")), "made\n"));
  /* a loop of links is an error, not a hang */
  CHECK(symlink("loop2", path_in("loop1")) == 0 && symlink("loop1", path_in("loop2")) == 0);
  CHECK(!strcmp(put(path_in("loop1"), "x") ?: "", strerror(ELOOP)));
  CHECK(temporaries() == 0);
}

/* ---- what is not a regular file ------------------------------------------------------- */

static void test_refused(void) {
  mkdir(path_in("dir"), 0755);
  CHECK(!strcmp(put(path_in("dir"), "x") ?: "", "it is a directory"));
  CHECK(!strcmp(outfile_check(path_in("dir")) ?: "", "it is a directory"));
  struct stat st;
  CHECK(stat(path_in("dir"), &st) == 0 && S_ISDIR(st.st_mode));
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_in("sock"));
  if (s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
    const char *why = put(path_in("sock"), "x");
    CHECK(why && strstr(why, "it is a socket"));
    CHECK(lstat(path_in("sock"), &st) == 0 && S_ISSOCK(st.st_mode));
  }
  if (s >= 0) close(s);
  CHECK(temporaries() == 0);
}

/* Character devices made in the folder: the null device takes the output
 * and stays a device; the full device's error is the write's error. */
static void test_devices(void) {
  const char *null = path_in("null"), *full = path_in("full");
  if (mknod(null, S_IFCHR | 0666, makedev(1, 3)) != 0 || mknod(full, S_IFCHR | 0666, makedev(1, 7)) != 0) {
    printf("test_outfile: device nodes skipped: mknod: %s (run as root to test them)\n", strerror(errno));
    return;
  }
  struct stat st;
  CHECK(put(null, "into the void\n") == NULL);
  CHECK(lstat(null, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
  CHECK(outfile_check(null) == NULL);
  /* a program's output (the linker's) is staged in TMPDIR and copied in */
  OutFile o;
  CHECK(outfile_open(&o, null) == NULL);
  const char *staged = outfile_path_for_program(&o);
  CHECK(staged && strncmp(staged, folder, strlen(folder)) != 0);
  if (staged) write_text(staged, "linked\n");
  char kept[512];
  snprintf(kept, sizeof kept, "%s", staged ? staged : "");
  CHECK(outfile_commit(&o) == NULL);
  CHECK(access(kept, F_OK) != 0); /* the staged file is gone */
  CHECK(lstat(null, &st) == 0 && S_ISCHR(st.st_mode));
  const char *why = put(full, "no room\n");
  CHECK(why && !strcmp(why, strerror(ENOSPC)));
  CHECK(lstat(full, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 7));
  CHECK(temporaries() == 0);
}

/* A FIFO with a reader: the output arrives through it, and it stays a FIFO. */
static void test_fifo(void) {
  const char *fifo = path_in("pipe"), *got = path_in("got.txt");
  CHECK(mkfifo(fifo, 0644) == 0);
  alarm(20); /* a write that waits for a reader that never comes fails the test */
  CHECK(outfile_check(fifo) == NULL); /* without waiting for a reader */
  pid_t pid = fork();
  if (pid == 0) { /* the reader: the FIFO's bytes into got.txt */
    int in = open(fifo, O_RDONLY), out = open(got, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[256];
    for (ssize_t n; in >= 0 && (n = read(in, buf, sizeof buf)) > 0;)
      if (write(out, buf, (size_t)n) != n) _exit(1);
    _exit(0);
  }
  CHECK(put(fifo, "through the pipe\n") == NULL);
  int status = 0;
  waitpid(pid, &status, 0);
  alarm(0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(!strcmp(read_text(got), "through the pipe\n"));
  struct stat st;
  CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
  CHECK(temporaries() == 0);
}

/* ---- temporaries and publishing --------------------------------------------------- */

/* A process id that no longer exists: a child that has exited. */
static pid_t dead_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

static void test_stale_temporaries(void) {
  char dead[64], alive[64], other[64];
  snprintf(dead, sizeof dead, "stale.txt.tmp.%d", (int)dead_pid());
  snprintf(alive, sizeof alive, "stale.txt.tmp.%d", (int)getppid()); /* a writer still at work */
  snprintf(other, sizeof other, "other.txt.tmp.%d", (int)dead_pid()); /* another file's */
  write_text(path_in(dead), "left by a killed save");
  write_text(path_in(alive), "being written");
  write_text(path_in(other), "not ours to clean");
  write_text(path_in("stale.txt.tmp.x1"), "not a pid");
  CHECK(put(path_in("stale.txt"), "saved\n") == NULL);
  CHECK(access(path_in(dead), F_OK) != 0);
  CHECK(access(path_in(alive), F_OK) == 0);
  CHECK(access(path_in(other), F_OK) == 0);
  CHECK(access(path_in("stale.txt.tmp.x1"), F_OK) == 0);
  /* outfile_check cleans too, and leaves nothing of its own */
  write_text(path_in(dead), "left again");
  CHECK(outfile_check(path_in("stale.txt")) == NULL);
  CHECK(access(path_in(dead), F_OK) != 0);
  CHECK(outfile_check(path_in("fresh.txt")) == NULL && access(path_in("fresh.txt"), F_OK) != 0);
  /* a link planted under our temporary's name is neither followed nor removed */
  char planted[64];
  snprintf(planted, sizeof planted, "planted.txt.tmp.%d", (int)getpid());
  CHECK(symlink("elsewhere", path_in(planted)) == 0);
  CHECK(!strcmp(put(path_in("planted.txt"), "x") ?: "", strerror(EEXIST)));
  CHECK(is_link(path_in(planted)) && access(path_in("elsewhere"), F_OK) != 0);
  unlink(path_in(planted));
  unlink(path_in(alive)), unlink(path_in(other)), unlink(path_in("stale.txt.tmp.x1"));
  CHECK(temporaries() == 0);
}

/* A log is named at once and then grows; discarding it keeps what was published. */
static void test_publish(void) {
  const char *path = path_in("log.csv");
  write_text(path, "an older run's log\n");
  OutFile o;
  CHECK(outfile_open(&o, path) == NULL);
  fputs("header\n", o.stream);
  CHECK(!strcmp(read_text(path), "an older run's log\n")); /* not yet */
  CHECK(outfile_publish(&o) == NULL);
  CHECK(!strcmp(read_text(path), "header\n"));
  CHECK(temporaries() == 0);
  fputs("row 1\n", o.stream);
  fflush(o.stream);
  CHECK(!strcmp(read_text(path), "header\nrow 1\n"));
  fputs("row 2\n", o.stream);
  CHECK(outfile_commit(&o) == NULL);
  CHECK(!strcmp(read_text(path), "header\nrow 1\nrow 2\n"));
  CHECK(outfile_open(&o, path) == NULL);
  CHECK(outfile_publish(&o) == NULL);
  outfile_discard(&o);
  CHECK(access(path, F_OK) == 0);
}

/* ---- main --------------------------------------------------------------------- */

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
    else unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

int main(void) {
  if (!mkdtemp(folder)) {
    perror("mkdtemp");
    return 2;
  }
  setenv("TMPDIR", "/tmp", 1);
  test_regular();
  test_links();
  test_refused();
  test_devices();
  test_fifo();
  test_stale_temporaries();
  test_publish();
  remove_tree(folder);
  if (failures) fprintf(stderr, "test_outfile: %d check(s) failed\n", failures);
  else printf("test_outfile: all checks passed\n");
  return failures ? 1 : 0;
}

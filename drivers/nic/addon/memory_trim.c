// Memory the process holds and no longer needs, handed back to the kernel. Both run on libuv's
// thread pool, as releasing many pages takes milliseconds the forwarding thread should not wait.
//
// trimMalloc(): the pages glibc holds free (malloc_trim(3), which since glibc 2.8 also releases
// free pages inside every arena, not only at the top). V8's compilers and collector free their
// scratch memory to malloc, which keeps it: 8 MB after a burst of 100 k new flows.
// firmware/heap.ts asks every few seconds.
//
// pageOutExecutable(): the pages of Node's own binary this process has read (madvise(2)
// MADV_PAGEOUT, Linux 5.4): most of them ran once, to start Node and load the gateway, and would
// stay resident for good (about 40 MB of the 80 the gateway may use). The kernel reclaims the
// ones no other process maps; what runs again is read back from the root file system once.
// firmware/heap.ts asks once, when the start has settled.

#include <limits.h>
#include <malloc.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "memory_trim.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

struct job {
  const char *name;
  void (*run)(void);
  napi_async_work work;
  bool busy; // one at a time; a request while one runs is dropped
};

static void trim(void) { malloc_trim(0); }

static void page_out_executable(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  FILE *maps = fopen("/proc/self/maps", "r");
  if (maps == NULL) return;
  char line[PATH_MAX + 128];
  while (fgets(line, sizeof line, maps) != NULL) {
    unsigned long start, end;
    int path_at = 0;
    // start-end perms offset dev inode path
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &path_at) < 2 || path_at == 0) continue;
    char *path = line + path_at;
    path[strcspn(path, "\n")] = '\0';
    // Errors (an older kernel, a locked mapping) leave the pages where they are: nothing lost.
    if (strcmp(path, exe) == 0) madvise((void *)start, end - start, MADV_PAGEOUT);
  }
  fclose(maps);
}

static struct job jobs[] = {{.name = "trimMalloc", .run = trim}, {.name = "pageOutExecutable", .run = page_out_executable}};

static void execute(napi_env env, void *data) { ((struct job *)data)->run(); }

static void done(napi_env env, napi_status status, void *data) {
  struct job *job = data;
  napi_delete_async_work(env, job->work);
  job->busy = false;
}

// Returns true when the job was started, false when it was still running.
static napi_value start(napi_env env, napi_callback_info info) {
  struct job *job;
  napi_value name, result;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&job) != napi_ok) return NULL;
  bool started = !job->busy && napi_create_string_utf8(env, job->name, NAPI_AUTO_LENGTH, &name) == napi_ok &&
                 napi_create_async_work(env, NULL, name, execute, done, job, &job->work) == napi_ok;
  if (started && napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    started = false;
  }
  job->busy = job->busy || started;
  if (napi_get_boolean(env, started, &result) != napi_ok) return NULL;
  return result;
}

napi_status memory_trim_register(napi_env env, napi_value exports) {
  for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
    napi_value fn;
    napi_status s = napi_create_function(env, jobs[i].name, NAPI_AUTO_LENGTH, start, &jobs[i], &fn);
    if (s == napi_ok) s = napi_set_named_property(env, exports, jobs[i].name, fn);
    if (s != napi_ok) return s;
  }
  return napi_ok;
}

/* replay.c - runs a fuzz target over files without libFuzzer, so any compiler replays the corpora (`make check`). */
/* Linked with one fuzz/fuzz_<name>.c in place of libFuzzer's main. Usage:
 *   replay_<name> FILE_OR_DIR...
 * Directories are read recursively, in name order. A broken invariant in the
 * target aborts (FUZZ_ASSERT); the signal handler names the input first. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Only a custom mutator calls this, and nothing mutates during a replay. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
    (void)data, (void)size, (void)max_size;
    abort();
}

static char current[4096] = "(the empty input)";
static unsigned long inputs;

static void name_input(int sig)
{
    static const char msg[] = "replay: the target failed on input ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0) {
        /* nothing more can be reported */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, size = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + size, 1, cap - size, f)) > 0) {
        size += got;
        if (size == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    if (!buf || ferror(f)) {
        fprintf(stderr, "%s: %s\n", path, buf ? "read error" : "out of memory");
        exit(2);
    }
    fclose(f);
    /* An exact-size copy, so reading one byte too far is a fault under ASan. */
    uint8_t *data = malloc(size ? size : 1);
    if (!data) exit(2);
    memcpy(data, buf, size);
    free(buf);
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    inputs++;
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        perror(path);
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        if (name[0] != '.') {
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, name);
            run_path(child);
        }
        free(entries[i]);
    }
    free(entries);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    static const int fatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], name_input);

    /* libFuzzer always tries the empty input first; so does the replay. */
    static const uint8_t none[1];
    LLVMFuzzerTestOneInput(none, 0);
    for (int i = 1; i < argc; i++) run_path(argv[i]);
    if (inputs == 0) {
        fprintf(stderr, "%s: no inputs found in the paths given\n", argv[0]);
        return 1;
    }
    printf("%s: %lu inputs replayed, no failures\n", argv[0], inputs);
    return 0;
}

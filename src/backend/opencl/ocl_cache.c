/* Disk caches of the OpenCL backend: the cache directory and program binaries.
 *
 * An entry is <cache>/<key>.bin: a 48-byte header ("CLVAEBIN", format version, header size, the
 * key, payload size, FNV-1a 64 of the payload) followed by the CL_PROGRAM_BINARIES payload. The
 * key is FNV-1a 64 over every input of the build (see clvae_ocl_program_key), so a changed
 * kernel, option, driver or device never matches an old entry. An entry whose header, size or
 * checksum is wrong, or that the driver refuses to load or build, is reported, rebuilt from
 * source and rewritten; it is never trusted. Writes go to a per-process temporary file that is
 * renamed over the entry. CLVAE_NO_CACHE=1 disables reading and writing. */
#include "backend/opencl/ocl_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/opencl/ocl_internal.h"
#include "core/fs.h"
#include "core/log.h"

#define BIN_MAGIC "CLVAEBIN"
#define BIN_VERSION 1u
#define BIN_HEADER CLVAE_OCL_CACHE_HEADER
#define BIN_MAX ((uint64_t)1 << 31) /* refuse absurd sizes from a corrupt header */

typedef struct bin_header {
    char magic[8];
    uint32_t version, header_size;
    uint64_t key, size, checksum, reserved;
} bin_header;

_Static_assert(sizeof(bin_header) == BIN_HEADER, "cache header layout");

uint64_t clvae_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t clvae_fnv1a64_str(uint64_t h, const char *s)
{
    uint64_t len = s ? strlen(s) : 0;
    h = clvae_fnv1a64(h, &len, sizeof len);
    return clvae_fnv1a64(h, s ? s : "", (size_t)len);
}

bool clvae_ocl_cache_enabled(void)
{
    const char *v = getenv("CLVAE_NO_CACHE");
    return !v || !*v || !strcmp(v, "0");
}

bool clvae_ocl_cache_dir(const clvae_config *cfg, char *dir, size_t size)
{
    if (!clvae_cache_dir(cfg, NULL, dir, size)) {
        CLVAE_WARN("opencl: no usable cache directory (set [device] cache); kernel binaries and "
                   "GEMM tuning are not cached");
        return false;
    }
    if (clvae_mkdir_p(dir)) {
        CLVAE_WARN("opencl: %s; kernel binaries and GEMM tuning are not cached", clvae_last_error());
        dir[0] = '\0';
        return false;
    }
    return true;
}

void clvae_ocl_cache_entry_path(const char *dir, uint64_t key, char *path, size_t size)
{
    snprintf(path, size, "%s/%016llx.bin", dir, (unsigned long long)key);
}

uint64_t clvae_ocl_program_key(const ocl_ctx *c, const char *src, size_t len, const char *opts)
{
    char pver[256] = "";
    clGetPlatformInfo(c->dev.platform, CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL);
    uint64_t h = clvae_fnv1a64_str(CLVAE_FNV64_INIT, "clvae program binary v1");
    h = clvae_fnv1a64(h, &len, sizeof len);
    h = clvae_fnv1a64(h, src, len);
    h = clvae_fnv1a64_str(h, opts);
    h = clvae_fnv1a64_str(h, c->dev.platform_name);
    h = clvae_fnv1a64_str(h, pver);
    h = clvae_fnv1a64_str(h, c->dev.name);
    h = clvae_fnv1a64_str(h, c->dev.version);
    return clvae_fnv1a64_str(h, c->dev.driver);
}

unsigned char *clvae_ocl_cache_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && (uint64_t)n <= BIN_HEADER + BIN_MAX && fseek(f, 0, SEEK_SET) == 0)
        data = malloc(n ? (size_t)n : 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = data ? (size_t)n : 0;
    return data;
}

const char *clvae_ocl_cache_check_entry(const unsigned char *data, size_t size, uint64_t key)
{
    bin_header h;
    if (size < BIN_HEADER) return "shorter than its header";
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, BIN_MAGIC, 8) || h.version != BIN_VERSION || h.header_size != BIN_HEADER)
        return "not a clvae kernel cache entry of this version";
    if (h.key != key) return "its key does not match its name";
    if (h.size == 0 || h.size != size - BIN_HEADER) return "its size does not match its header";
    if (clvae_fnv1a64(CLVAE_FNV64_INIT, data + BIN_HEADER, (size_t)h.size) != h.checksum)
        return "checksum mismatch";
    return NULL;
}

/* Creates and builds the program from a validated payload; false with `why` set on failure. */
static bool build_binary(const ocl_ctx *c, const unsigned char *bin, size_t n, const char *opts,
                         cl_program *out, char *why, size_t why_size)
{
    cl_int err, bin_status = CL_SUCCESS;
    cl_program p =
        clCreateProgramWithBinary(c->context, 1, &c->dev.id, &n, &bin, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status != CL_SUCCESS) err = bin_status;
    if (err != CL_SUCCESS) {
        snprintf(why, why_size, "clCreateProgramWithBinary failed: %s (%d)",
                 clvae_ocl_error_name(err), err);
        if (p) clReleaseProgram(p);
        return false;
    }
    err = clBuildProgram(p, 1, &c->dev.id, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        snprintf(why, why_size, "clBuildProgram failed: %s (%d)", clvae_ocl_error_name(err), err);
        clReleaseProgram(p);
        return false;
    }
    *out = p;
    return true;
}

bool clvae_ocl_cache_load(const ocl_ctx *c, uint64_t key, const char *opts, cl_program *out)
{
    char path[CLVAE_PATH_MAX + 32], why[160];
    size_t size = 0;
    if (!c->cache_dir[0] || !clvae_ocl_cache_enabled()) return false;
    clvae_ocl_cache_entry_path(c->cache_dir, key, path, sizeof path);
    unsigned char *data = clvae_ocl_cache_read_file(path, &size);
    if (!data) return false;
    const char *bad = clvae_ocl_cache_check_entry(data, size, key);
    bool ok = false;
    if (bad)
        snprintf(why, sizeof why, "%s", bad);
    else
        ok = build_binary(c, data + BIN_HEADER, size - BIN_HEADER, opts, out, why, sizeof why);
    free(data);
    if (ok)
        CLVAE_DEBUG("opencl: kernels for \"%s\" loaded from the cache %s", c->dev.name, path);
    else
        CLVAE_WARN("opencl: ignoring the kernel cache entry %s (%s); rebuilding from source", path,
                   why);
    return ok;
}

/* The program's binary for our one device; NULL when the driver offers none. */
static unsigned char *program_binary(cl_program program, size_t *n)
{
    size_t size = 0;
    *n = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > BIN_MAX)
        return NULL;
    unsigned char *bin = malloc(size);
    if (!bin) return NULL;
    unsigned char *ptrs[1] = {bin};
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) != CL_SUCCESS) {
        free(bin);
        return NULL;
    }
    *n = size;
    return bin;
}

/* Writes header + payload to a per-process temporary file and renames it over `path`. */
static int write_entry(const char *path, uint64_t key, const unsigned char *bin, size_t n)
{
    char tmp[CLVAE_PATH_MAX + 64];
    bin_header h = {.version = BIN_VERSION, .header_size = BIN_HEADER, .key = key, .size = n};
    memcpy(h.magic, BIN_MAGIC, 8);
    h.checksum = clvae_fnv1a64(CLVAE_FNV64_INIT, bin, n);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return errno ? errno : EIO;
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, n, f) == n && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    int err = ok ? 0 : (errno ? errno : EIO);
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (!err && rename(tmp, path) != 0) err = errno ? errno : EIO;
    if (err) unlink(tmp);
    return err;
}

void clvae_ocl_cache_store(const ocl_ctx *c, uint64_t key, cl_program program)
{
    char path[CLVAE_PATH_MAX + 32];
    size_t n;
    if (!c->cache_dir[0] || !clvae_ocl_cache_enabled()) return;
    unsigned char *bin = program_binary(program, &n);
    if (!bin) {
        CLVAE_DEBUG("opencl: \"%s\" offers no program binary; nothing cached", c->dev.name);
        return;
    }
    clvae_ocl_cache_entry_path(c->cache_dir, key, path, sizeof path);
    int err = write_entry(path, key, bin, n);
    if (err)
        CLVAE_WARN("opencl: cannot write the kernel cache entry %s: %s", path, strerror(err));
    else
        CLVAE_DEBUG("opencl: kernels for \"%s\" cached in %s (%zu bytes)", c->dev.name, path, n);
    free(bin);
}

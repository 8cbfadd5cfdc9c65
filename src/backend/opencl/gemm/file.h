/* The tuning file's layer (above run.h): <cache>/gemm-<hash>.json per device, driver and
 * CLBlast version, read and checked (file.c), and applied to a backend at creation through the
 * runners (load.c). The search (tune.h) writes it. */
#ifndef CLVAE_GEMM_FILE_H
#define CLVAE_GEMM_FILE_H

#include "backend/opencl/gemm/choice.h"

/* <dir>/gemm-<hash>.json, the hash being FNV-1a 64 over platform name, device name, driver
 * version and CLBlast version. */
void clvae_tuning_path(const char *dir, cl_platform_id platform, cl_device_id dev, char *path,
                       size_t size);
/* Fills the identity fields (platform, device, driver, clblast) for a device. */
void clvae_tuning_identify(clvae_tuning *t, cl_platform_id platform, cl_device_id dev);

/* Writes the file atomically. Errors name the file. */
int clvae_tuning_write(const char *path, const clvae_tuning *t);
/* Reads a file: CLVAE_ERR_IO when missing/unreadable, CLVAE_ERR_DATA (naming the file and what
 * is wrong) when it is not a valid tuning file. Never crashes on bad content. */
int clvae_tuning_read(const char *path, clvae_tuning *t);
/* Whether a file read for this device/driver/CLBlast applies; else `why` says what differs. */
bool clvae_tuning_matches(const clvae_tuning *t, const clvae_tuning *want, char *why, size_t size);

/* ---- on a backend (load.c) ---- */

/* Reads the tuning file for the backend's device and applies it (ocl_backend.c calls this at
 * creation). Corrupt or foreign files are reported and ignored; never an error. */
struct ocl_ctx;
void clvae_ocl_tuning_load(struct ocl_ctx *c);

/* The backend's tuning state. */
clvae_tuning_state clvae_opencl_tuning_state(const clvae_backend *be);
/* Reads and applies the backend's tuning file now (as creation does); returns the new state. */
clvae_tuning_state clvae_opencl_tuning_reload(clvae_backend *be);
/* Path of the backend's tuning file ("" without a cache directory). */
void clvae_opencl_tuning_file(const clvae_backend *be, char *path, size_t size);

/* clvae_opencl_backend_create without applying the tuning file: CLBlast keeps its defaults, so
 * a search can measure them (clvae tune, bench_gemm). ocl_backend.c */
int clvae_opencl_backend_create_untuned(const clvae_config *cfg, clvae_backend *out);

#endif

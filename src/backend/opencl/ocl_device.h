/* OpenCL platform/device inventory and the [device] selection policy, shared by the backend,
 * `clvae devices` and the tests. */
#ifndef CLVAE_OCL_DEVICE_H
#define CLVAE_OCL_DEVICE_H

#include <stdbool.h>
#include <stdio.h>

#include <CL/cl.h>

#include "clvae/config.h"

typedef struct clvae_ocl_platform {
    cl_platform_id id;
    char name[256];
    char vendor[256];
    char version[256];
    int n_devices; /* 0 when clGetDeviceIDs found none or failed */
    cl_int status; /* result of clGetDeviceIDs (CL_DEVICE_NOT_FOUND for an empty platform) */
} clvae_ocl_platform;

typedef struct clvae_ocl_device {
    cl_platform_id platform;
    cl_device_id id;
    int platform_index; /* index in the platform list, as `clvae devices` prints it */
    int device_index;   /* index within its platform (CL_DEVICE_TYPE_ALL order) */
    cl_device_type type;
    char platform_name[256];
    char platform_vendor[256];
    char name[256];
    char vendor[256];
    char driver[256];  /* CL_DRIVER_VERSION */
    char version[256]; /* CL_DEVICE_VERSION, "OpenCL <major>.<minor> ..." */
    bool usable;       /* available, has a compiler, OpenCL >= 1.2 */
    char why[320];     /* why not usable */
} clvae_ocl_device;

typedef struct clvae_ocl_inventory {
    clvae_ocl_platform *platforms; /* (n_platforms) */
    int n_platforms;
    clvae_ocl_device *devices; /* (n_devices), every device of every platform */
    int n_devices;
} clvae_ocl_inventory;

/* Enumerates every platform and device. No OpenCL platform at all is not an error (n = 0). */
int clvae_ocl_inventory_init(clvae_ocl_inventory *inv);
void clvae_ocl_inventory_free(clvae_ocl_inventory *inv);

/* The devices that match cfg->device (type, platform, device), best first: GPU, then
 * accelerator, then CPU, then platform and device order; a simulator (Oclgrind) last.
 * order holds inv->n_devices ints.
 * Nothing matching is CLVAE_ERR_INPUT (CLVAE_ERR_DEVICE when no device exists at all) with a
 * message that lists every platform and device with its indices after "available:". */
int clvae_ocl_select(const clvae_ocl_inventory *inv, const clvae_config *cfg, int *order,
                     int *n_order);

/* Writes the "available: ..." list of every platform and device into buf. */
void clvae_ocl_describe_available(const clvae_ocl_inventory *inv, char *buf, size_t size);

const char *clvae_ocl_type_name(cl_device_type type);

/* Names of OpenCL error codes (CL_SUCCESS .. CL_MAX_SIZE_RESTRICTION_EXCEEDED, KHR codes) and of
 * CLBlast status codes; unknown codes give "unknown OpenCL error". */
const char *clvae_ocl_error_name(cl_int err);
const char *clvae_clblast_status_name(int status);

#endif

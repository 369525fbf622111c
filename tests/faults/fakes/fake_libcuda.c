/* A fake libcuda.so.1: the driver API calls kbackend's GPU probe makes, answered
 * from environment variables so one build serves every test:
 *   FAKE_CUDA_VERSION  cuDriverGetVersion's value (default 12020 = CUDA 12.2)
 *   FAKE_CUDA_INIT     cuInit's CUresult (default 0; 100 no device, 999 unknown)
 *   FAKE_CUDA_CC       compute capability of each device, comma-separated (default "8.6")
 * Built with -DFAKE_STUB it behaves like the toolkit's stubs/libcuda.so:
 * every call returns CUDA_ERROR_STUB_LIBRARY (34). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static const char *cc_list(void) {
    const char *v = getenv("FAKE_CUDA_CC");
    return v && *v ? v : "8.6";
}

static int device_count(void) {
    int n = 1;
    for (const char *p = cc_list(); *p; p++) n += (*p == ',');
    return n;
}

/* The compute capability of device `dev` as major*10+minor, or -1. */
static int device_cc(int dev) {
    const char *p = cc_list();
    for (int i = 0; i < dev && p; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (!p) return -1;
    int major = 0, minor = 0;
    if (sscanf(p, "%d.%d", &major, &minor) != 2) return -1;
    return major * 10 + minor;
}

#ifdef FAKE_STUB
#define STUB_GUARD return 34
#else
#define STUB_GUARD do { } while (0)
#endif

CUresult cuGetErrorName(CUresult error, const char **pStr) {
    switch (error) {
    case 34: *pStr = "CUDA_ERROR_STUB_LIBRARY"; return 0;
    case 100: *pStr = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 999: *pStr = "CUDA_ERROR_UNKNOWN"; return 0;
    default: *pStr = "CUDA_ERROR_FAKE"; return 0;
    }
}

CUresult cuDriverGetVersion(int *v) {
    STUB_GUARD;
    *v = env_int("FAKE_CUDA_VERSION", 12020);
    return 0;
}

CUresult cuInit(unsigned int flags) {
    (void)flags;
    STUB_GUARD;
    return env_int("FAKE_CUDA_INIT", 0);
}

CUresult cuDeviceGetCount(int *n) {
    STUB_GUARD;
    *n = device_count();
    return 0;
}

CUresult cuDeviceGet(CUdevice *dev, int ordinal) {
    STUB_GUARD;
    if (ordinal < 0 || ordinal >= device_count()) return 101; /* CUDA_ERROR_INVALID_DEVICE */
    *dev = ordinal;
    return 0;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
    STUB_GUARD;
    snprintf(name, (size_t)len, "NVIDIA Fake GPU %d", dev);
    return 0;
}

CUresult cuDeviceGetAttribute(int *value, int attrib, CUdevice dev) {
    STUB_GUARD;
    int cc = device_cc(dev);
    if (cc < 0) return 101;
    if (attrib == 75) { *value = cc / 10; return 0; }
    if (attrib == 76) { *value = cc % 10; return 0; }
    return 1; /* CUDA_ERROR_INVALID_VALUE */
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
    STUB_GUARD;
    *bytes = (size_t)(16 + dev) * 1024 * 1024 * 1024;
    return 0;
}

CUresult cuDeviceGetUuid(unsigned char *uuid, CUdevice dev) {
    STUB_GUARD;
    for (int i = 0; i < 16; i++) uuid[i] = (unsigned char)(0x10 * dev + i);
    return 0;
}

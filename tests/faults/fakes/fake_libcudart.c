/* A fake CUDA runtime: cudaRuntimeGetVersion answers FAKE_VERSION (1000*major + 10*minor),
 * given with -DFAKE_VERSION=12040 when the fixture compiles it. */
#ifndef FAKE_VERSION
#define FAKE_VERSION 12040
#endif

int cudaRuntimeGetVersion(int *v) {
    *v = FAKE_VERSION;
    return 0;
}

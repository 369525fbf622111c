/* A fake cuDNN: cudnnGetVersion answers FAKE_VERSION (cuDNN 9: M*10000 + m*100 + p;
 * 8 and older: M*1000 + m*100 + p). Built with -DFAKE_ABORT it aborts the process
 * instead, as a real cuDNN 9 does when libcudnn_graph.so.9 cannot be loaded. */
#include <stddef.h>
#include <stdlib.h>

#ifndef FAKE_VERSION
#define FAKE_VERSION 90100
#endif

size_t cudnnGetVersion(void) {
#ifdef FAKE_ABORT
    abort();
#endif
    return FAKE_VERSION;
}

size_t cudnnGetCudartVersion(void) {
    return 12040;
}

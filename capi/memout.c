// Handing memory to the host. Everything the library gives out is copied by C code into
// malloc'd memory (or written into the host's out-parameters) and, when built where
// valgrind's client-request header exists, marked as initialised for memcheck: the Go heap
// and stacks are invisible to memcheck (see tests/capi/valgrind.supp), so without this a
// host running under valgrind would see false "uninitialised value" reports on data that
// came from the network through Go. The client requests are a few no-op instructions when
// not running under valgrind. Symbols are hidden: only lk_* functions are the ABI.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define LKINT_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef LKINT_DEFINED
#define LKINT_DEFINED(p, n) ((void)(p), (void)(n))
#endif

// lkint_copy copies n bytes of Go memory (src) and marks the copy initialised. The source is
// declared accessible and initialised first (it is: Go wrote it), so memcheck does not
// report each byte read.
__attribute__((visibility("hidden")))
void lkint_copy(uint8_t *dst, const uint8_t *src, size_t n) {
	LKINT_DEFINED(&n, sizeof n);
	LKINT_DEFINED((void *)src, n);
	for (size_t i = 0; i < n; i++) dst[i] = src[i];
	LKINT_DEFINED(dst, n);
}

// lkint_out hands a malloc'd copy of src (at least one byte, so success is never NULL) to
// the host through out/out_len. Returns false (and NULL/0) when out of memory.
__attribute__((visibility("hidden")))
bool lkint_out(uint8_t **out, size_t *out_len, const uint8_t *src, size_t n) {
	LKINT_DEFINED(&n, sizeof n);
	uint8_t *p = malloc(n ? n : 1);
	if (p) lkint_copy(p, src, n);
	*out = p;
	*out_len = p ? n : 0;
	LKINT_DEFINED(out, sizeof *out);
	LKINT_DEFINED(out_len, sizeof *out_len);
	return p != NULL;
}

// lkint_out_frame_info writes the optional out-parameters of lk_data_track_read_frame: the
// user timestamp and the frames lost before this one.
__attribute__((visibility("hidden")))
void lkint_out_frame_info(uint64_t *ts, bool *has, uint64_t *dropped, uint64_t v, bool h, uint64_t d) {
	LKINT_DEFINED(&v, sizeof v);
	LKINT_DEFINED(&h, sizeof h);
	LKINT_DEFINED(&d, sizeof d);
	if (ts) *ts = v;
	if (has) *has = h;
	if (dropped) *dropped = d;
}

// lkint_defined marks one value the library wrote for the host as initialised.
__attribute__((visibility("hidden")))
void lkint_defined(void *p, size_t n) {
	LKINT_DEFINED(p, n);
}

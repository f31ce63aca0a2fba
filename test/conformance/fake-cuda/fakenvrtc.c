/* A fake NVRTC (libnvrtc.so.12) for test/conformance/cuda-emulated.test.ts: "compiling" checks the
 * options the backend passes and emits a PTX-like text listing one `.entry` per
 * `extern "C" __global__ void NAME(` of the source, which the fake driver (fakecuda.cpp) accepts.
 * A source containing FAKE_NVRTC_FAIL fails to compile with a log, for the error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char* src;
  char* ptx;
  char* log;
} prog_t;

const char* nvrtcGetErrorString(int r) { return r == 0 ? "NVRTC_SUCCESS" : r == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_ERROR_INVALID_INPUT"; }
int nvrtcVersion(int* major, int* minor) { *major = 12; *minor = 4; return 0; }
int nvrtcCreateProgram(prog_t** p, const char* src, const char* name, int nh, const char** h, const char** in) {
  (void)name; (void)h; (void)in;
  if (src == NULL || nh != 0) return 3;
  *p = calloc(1, sizeof(prog_t));
  (*p)->src = strdup(src);
  return 0;
}
int nvrtcCompileProgram(prog_t* p, int n, const char** options) {
  int arch = 0;
  for (int i = 0; i < n; i++) if (strncmp(options[i], "--gpu-architecture=compute_", 27) == 0) arch = atoi(options[i] + 27);
  if (arch == 0) { p->log = strdup("fake nvrtc: no --gpu-architecture=compute_XX option"); return 3; }
  if (strstr(p->src, "FAKE_NVRTC_FAIL") != NULL) { p->log = strdup("kernels.cu(1): error: FAKE_NVRTC_FAIL"); return 6; }
  size_t cap = 256 + strlen(p->src);
  p->ptx = malloc(cap);
  size_t len = (size_t)snprintf(p->ptx, cap, "// fake PTX\n.version 8.4\n.target sm_%d\n", arch);
  const char* key = "extern \"C\" __global__ void ";
  for (const char* s = strstr(p->src, key); s != NULL; s = strstr(s + 1, key)) {
    const char* b = s + strlen(key);
    const char* e = strchr(b, '(');
    len += (size_t)snprintf(p->ptx + len, cap - len, ".visible .entry %.*s(\n", (int)(e - b), b);
  }
  p->log = strdup("");
  return 0;
}
int nvrtcGetPTXSize(prog_t* p, size_t* n) { if (!p->ptx) return 3; *n = strlen(p->ptx) + 1; return 0; }
int nvrtcGetPTX(prog_t* p, char* out) { if (!p->ptx) return 3; strcpy(out, p->ptx); return 0; }
int nvrtcGetProgramLogSize(prog_t* p, size_t* n) { *n = (p->log ? strlen(p->log) : 0) + 1; return 0; }
int nvrtcGetProgramLog(prog_t* p, char* out) { strcpy(out, p->log ? p->log : ""); return 0; }
int nvrtcDestroyProgram(prog_t** p) {
  free((*p)->src); free((*p)->ptx); free((*p)->log); free(*p);
  *p = NULL;
  return 0;
}

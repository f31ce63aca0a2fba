// CPU emulation of the CUDA C subset that src/backends/cuda/kernels.cu uses, for
// test/conformance/cuda-emulated.test.ts: the kernel source is compiled by g++ with this prelude
// (after `extern __shared__` → `extern`), every CUDA thread of a block runs as a ucontext fiber,
// and __syncthreads / warp shuffles are barriers of the fiber scheduler (fakecuda.cpp). Blocks run
// one after another, so function-static variables stand in for __shared__ memory.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

struct emu_dim3 {
  unsigned int x, y, z;
};
struct emu_fiber {
  emu_dim3 tid;
  int linear; // x + y·bx + z·bx·by
  int state;  // see fakecuda.cpp
  void* ctx;  // ucontext_t*
};
/** A kernel of the generated kernels.emu.cpp: its name and a wrapper taking cuLaunchKernel's params. */
struct emu_kernel {
  const char* name;
  void (*fn)(void**);
};
extern emu_fiber* emu_current;
extern emu_dim3 emu_blockIdx, emu_blockDim, emu_gridDim;
void emu_sync_block();
void emu_sync_warp();
extern float emu_warp_slots[32][32];
// dynamic shared memory (`extern __shared__ float smem[]`): 48 KiB, as a real block may use
alignas(16) extern float smem[12288];

#define threadIdx (emu_current->tid)
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() emu_sync_block()

struct float4 {
  float x, y, z, w;
};
struct uint2 {
  unsigned int x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int min(int a, int b) { return a < b ? a : b; }

inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }

inline float __shfl_xor_sync(unsigned int, float v, int offset) {
  const int lane = emu_current->linear & 31;
  const int warp = emu_current->linear >> 5;
  emu_warp_slots[warp][lane] = v;
  emu_sync_warp();
  const float r = emu_warp_slots[warp][lane ^ offset];
  emu_sync_warp();
  return r;
}

// IEEE half → float (exact).
inline float emu_f16_to_f32(unsigned short h) {
  const unsigned int s = (h >> 15) & 1u, e = (h >> 10) & 31u, m = h & 1023u;
  float v;
  if (e == 0) v = std::ldexp((float)m, -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = std::ldexp((float)(m | 1024u), (int)e - 25);
  return s ? -v : v;
}
// float → IEEE half, round to nearest-even, overflow to ±inf (as PTX cvt.rn.f16.f32).
inline unsigned short emu_f32_to_f16_rn(float f) {
  const unsigned int u = __float_as_uint(f);
  const unsigned int s = (u >> 16) & 0x8000u;
  if (std::isnan(f)) return (unsigned short)(s | 0x7e00u);
  const float a = std::fabs(f);
  if (a >= 65520.0f) return (unsigned short)(s | 0x7c00u);
  if (a < 6.103515625e-05f) { // subnormal half: units of 2^-24, nearbyint rounds to even
    return (unsigned short)(s | (unsigned int)std::nearbyint(a * 16777216.0f));
  }
  int e;
  const float mant = std::frexp(a, &e); // a = mant·2^e, mant in [0.5, 1)
  float q = std::nearbyint(mant * 2048.0f); // 11 significant bits
  if (q == 2048.0f) { q = 1024.0f; e += 1; }
  const unsigned int he = (unsigned int)(e - 1 + 15);
  if (he >= 31) return (unsigned short)(s | 0x7c00u);
  return (unsigned short)(s | (he << 10) | ((unsigned int)q - 1024u));
}

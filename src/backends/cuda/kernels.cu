// CUDA kernels of the cuda backend: one `extern "C" __global__` function per Backend op
// (src/backends/backend.ts has the exact semantics of each; src/backends/ts/kernels.ts is the
// scalar twin every kernel is checked against by test/conformance/).
//
// ATen-free and header-free on purpose: no <cuda_fp16.h>/<cuda_bf16.h>, so the same text compiles
// with nvcc (scripts/build-ptx.mjs, embedded PTX) and with NVRTC at run time without include paths.
// 16-bit weights are decoded by hand (bf16: the high half of a float32; f16: the PTX cvt).
//
// Precision: activations, state and every accumulation are float32. Only weight matrices may be
// 16-bit (storage codes below). The official package's fp16 mode also runs activations in fp16 and
// so halves the residual stream every 6 layers (v4–v6) to avoid overflow (RESCALE_LAYER, model.py
// L630-634, L785-789, L1660-1662); with fp32 activations that rescale is not needed, and the WKV
// recurrences run in fp32 as in the official kernels.
//
// Legend: T rows (tokens), C channels, K/O matmul in/out width, H heads, N head size, G group size.
// Every tensor is row-major; [C] operands of element-wise ops broadcast over rows (period bn).

// ---------------------------------------------------------------------------------------------
// 16-bit weight decoding. Storage codes (WSTORE_*) are mirrored in cuda-backend.ts.
// ---------------------------------------------------------------------------------------------

// Element offsets are 64-bit (row × width products such as t·I·J can pass 2^31 − 1); the type has
// our own name because NVRTC compiles without the standard headers (no size_t guaranteed).
typedef unsigned long long idx_t;

#define WSTORE_F32 0
#define WSTORE_F16 1
#define WSTORE_BF16 2

// f16 bits → float32 (exact): PTX cvt, available on every architecture we target.
// (RWKV_CUDA_EMULATION: the CPU emulation used by test/conformance/cuda-emulated.test.ts, which
// has no PTX; its emu_* twins are in test/conformance/fake-cuda/emu.h.)
__device__ __forceinline__ float f16_to_f32(unsigned short h) {
#ifdef RWKV_CUDA_EMULATION
  return emu_f16_to_f32(h);
#else
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#endif
}

// bf16 bits → float32 (exact): bf16 is the high 16 bits of a float32.
__device__ __forceinline__ float bf16_to_f32(unsigned short b) {
  return __uint_as_float(((unsigned int)b) << 16);
}

// One weight element as float32, whatever the storage.
struct LoadF32 {
  __device__ __forceinline__ static float at(const void* W, idx_t i) { return ((const float*)W)[i]; }
};
struct LoadF16 {
  __device__ __forceinline__ static float at(const void* W, idx_t i) { return f16_to_f32(((const unsigned short*)W)[i]); }
};
struct LoadBF16 {
  __device__ __forceinline__ static float at(const void* W, idx_t i) { return bf16_to_f32(((const unsigned short*)W)[i]); }
};

// Four consecutive weights W[i..i+3] as float32 (i a multiple of 4, W 8-byte aligned for 16-bit
// storage, 16-byte aligned for f32): one vector load.
struct Load4F32 {
  __device__ __forceinline__ static float4 at(const void* W, idx_t i) { return *(const float4*)((const float*)W + i); }
};
struct Load4F16 {
  __device__ __forceinline__ static float4 at(const void* W, idx_t i) {
    const uint2 p = *(const uint2*)((const unsigned short*)W + i);
    return make_float4(f16_to_f32((unsigned short)(p.x & 0xffffu)), f16_to_f32((unsigned short)(p.x >> 16)),
                       f16_to_f32((unsigned short)(p.y & 0xffffu)), f16_to_f32((unsigned short)(p.y >> 16)));
  }
};
struct Load4BF16 {
  __device__ __forceinline__ static float4 at(const void* W, idx_t i) {
    const uint2 p = *(const uint2*)((const unsigned short*)W + i);
    return make_float4(__uint_as_float(p.x << 16), __uint_as_float(p.x & 0xffff0000u),
                       __uint_as_float(p.y << 16), __uint_as_float(p.y & 0xffff0000u));
  }
};

// Warp-wide sum (every lane gets the total).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide sum of one value per thread (blockDim.x a multiple of 32, at most 1024); every
// thread gets the total. `scratch` holds 32 floats of shared memory.
__device__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads(); // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(t);
}

// ---------------------------------------------------------------------------------------------
// Products: out[T, O] = x[T, K] · W[O, K]ᵀ, fp32 accumulation.
// ---------------------------------------------------------------------------------------------

// Matrix-vector form (few rows, the decode path): one warp per output column o; the warp streams
// row o of W once per group of MV_ROWS rows of x, each lane summing a strided slice of K, then a
// warp reduction. Launch: blockDim = (32·MV_WARPS), gridDim = ceil(O / MV_WARPS).
#define MV_ROWS 4
#define MV_WARPS 4

template <typename L, typename L4>
__device__ void matvec_impl(float* out, const float* x, const void* W, int T, int K, int O) {
  const int o = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (o >= O) return;
  const idx_t wrow = (idx_t)o * K;
  // 4-wide loads need K % 4 == 0 (then every row starts aligned)
  const bool vec = (K & 3) == 0;
  for (int t0 = 0; t0 < T; t0 += MV_ROWS) {
    const int rows = min(MV_ROWS, T - t0);
    float acc[MV_ROWS] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (vec) {
      for (int i = lane * 4; i < K; i += 128) {
        const float4 w = L4::at(W, wrow + i);
#pragma unroll
        for (int r = 0; r < MV_ROWS; r++) {
          if (r < rows) {
            const float4 xv = *(const float4*)(x + (idx_t)(t0 + r) * K + i);
            acc[r] += xv.x * w.x + xv.y * w.y + xv.z * w.z + xv.w * w.w;
          }
        }
      }
    } else {
      for (int i = lane; i < K; i += 32) {
        const float w = L::at(W, wrow + i);
#pragma unroll
        for (int r = 0; r < MV_ROWS; r++) {
          if (r < rows) acc[r] += x[(idx_t)(t0 + r) * K + i] * w;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) {
      const float s = warp_sum(acc[r]);
      if (r < rows && lane == 0) out[(idx_t)(t0 + r) * O + o] = s;
    }
  }
}

extern "C" __global__ void matvec_f32(float* out, const float* x, const void* W, int T, int K, int O) {
  matvec_impl<LoadF32, Load4F32>(out, x, W, T, K, O);
}
extern "C" __global__ void matvec_f16(float* out, const float* x, const void* W, int T, int K, int O) {
  matvec_impl<LoadF16, Load4F16>(out, x, W, T, K, O);
}
extern "C" __global__ void matvec_bf16(float* out, const float* x, const void* W, int T, int K, int O) {
  matvec_impl<LoadBF16, Load4BF16>(out, x, W, T, K, O);
}

// Tiled matrix-matrix form (prefill): each block computes a GM_BT × GM_BO tile of out; per step
// it stages a GM_BK-wide slice of x and of W (decoded to float32) in shared memory, transposed so
// the inner loop reads both operands along the tile; each thread accumulates GM_RT × GM_RO
// outputs in registers. Launch: blockDim = 256, gridDim = (ceil(O / GM_BO), ceil(T / GM_BT)).
#define GM_BT 64
#define GM_BO 64
#define GM_BK 16
#define GM_RT 4
#define GM_RO 4
#define GM_THREADS 256

template <typename L>
__device__ void gemm_impl(float* out, const float* x, const void* W, int T, int K, int O) {
  __shared__ float xs[GM_BK][GM_BT + 1]; // xs[k][t] = x[t0 + t, k0 + k]
  __shared__ float ws[GM_BK][GM_BO + 1]; // ws[k][o] = W[o0 + o, k0 + k]
  const int t0 = blockIdx.y * GM_BT;
  const int o0 = blockIdx.x * GM_BO;
  const int tid = threadIdx.x;
  // this thread's outputs: rows ty + 16·a, columns tx + 16·b (strided, so shared reads spread)
  const int tx = tid % (GM_BO / GM_RO);
  const int ty = tid / (GM_BO / GM_RO);
  float acc[GM_RT][GM_RO];
#pragma unroll
  for (int a = 0; a < GM_RT; a++)
#pragma unroll
    for (int b = 0; b < GM_RO; b++) acc[a][b] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += GM_BK) {
    // stage: GM_BT·GM_BK = 1024 values of each operand, 4 per thread; k fastest (coalesced)
#pragma unroll
    for (int e = tid; e < GM_BT * GM_BK; e += GM_THREADS) {
      const int k = e % GM_BK;
      const int r = e / GM_BK;
      const int gk = k0 + k;
      const int gt = t0 + r;
      const int go = o0 + r;
      xs[k][r] = (gt < T && gk < K) ? x[(idx_t)gt * K + gk] : 0.0f;
      ws[k][r] = (go < O && gk < K) ? L::at(W, (idx_t)go * K + gk) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < GM_BK; k++) {
      float xr[GM_RT];
      float wr[GM_RO];
#pragma unroll
      for (int a = 0; a < GM_RT; a++) xr[a] = xs[k][ty + a * (GM_BT / GM_RT)];
#pragma unroll
      for (int b = 0; b < GM_RO; b++) wr[b] = ws[k][tx + b * (GM_BO / GM_RO)];
#pragma unroll
      for (int a = 0; a < GM_RT; a++)
#pragma unroll
        for (int b = 0; b < GM_RO; b++) acc[a][b] += xr[a] * wr[b];
    }
    __syncthreads();
  }
#pragma unroll
  for (int a = 0; a < GM_RT; a++) {
    const int t = t0 + ty + a * (GM_BT / GM_RT);
    if (t >= T) continue;
#pragma unroll
    for (int b = 0; b < GM_RO; b++) {
      const int o = o0 + tx + b * (GM_BO / GM_RO);
      if (o < O) out[(idx_t)t * O + o] = acc[a][b];
    }
  }
}

extern "C" __global__ void gemm_f32(float* out, const float* x, const void* W, int T, int K, int O) {
  gemm_impl<LoadF32>(out, x, W, T, K, O);
}
extern "C" __global__ void gemm_f16(float* out, const float* x, const void* W, int T, int K, int O) {
  gemm_impl<LoadF16>(out, x, W, T, K, O);
}
extern "C" __global__ void gemm_bf16(float* out, const float* x, const void* W, int T, int K, int O) {
  gemm_impl<LoadBF16>(out, x, W, T, K, O);
}

// ---------------------------------------------------------------------------------------------
// Memory helpers
// ---------------------------------------------------------------------------------------------

// out[i] = float32(bits[i]) for 16-bit storage (copy/download of a compact weight).
extern "C" __global__ void decode16(float* out, const unsigned short* bits, int n, int storage) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = storage == WSTORE_F16 ? f16_to_f32(bits[i]) : bf16_to_f32(bits[i]);
}

// bits[i] = 16-bit encoding of x[i], rounded to nearest-even (WeightStorage 'f16'/'bf16': a
// weight uploaded as float32 and kept compact). f16: the PTX cvt.rn (overflow → ±inf, as IEEE).
// bf16: add half an ulp of the kept part (+1 when its last kept bit is odd, for ties to even) and
// truncate; NaN stays a quiet NaN.
extern "C" __global__ void encode16(unsigned short* bits, const float* x, int n, int storage) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  unsigned short h;
  if (storage == WSTORE_F16) {
#ifdef RWKV_CUDA_EMULATION
    h = emu_f32_to_f16_rn(v);
#else
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
#endif
  } else {
    const unsigned int u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) h = (unsigned short)((u >> 16) | 0x40u);
    else h = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  bits[i] = h;
}

// out[t] = table[tokens[t]]: out [T, C], table [V, C] in any storage; ids were checked on the host.
// Launch: one block row per token (gridDim.y = T), threads over C.
extern "C" __global__ void embedding(float* out, const void* table, const int* tokens, int C, int storage) {
  const int t = blockIdx.y;
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const idx_t i = (idx_t)tokens[t] * C + c;
  float v;
  if (storage == WSTORE_F16) v = LoadF16::at(table, i);
  else if (storage == WSTORE_BF16) v = LoadBF16::at(table, i);
  else v = LoadF32::at(table, i);
  out[(idx_t)t * C + c] = v;
}

// ---------------------------------------------------------------------------------------------
// Norms. Launch: one block per group (gridDim.x = rows·C/G), blockDim a multiple of 32.
// ---------------------------------------------------------------------------------------------

// Per group of G channels: out = (x − mean) / sqrt(var + eps) · weight + bias, var biased.
// Two passes over the group (mean, then Σ(x − mean)²), as the scalar twin. out may alias x: each
// thread reads x[i] before writing out[i] and the reductions finish before any write.
extern "C" __global__ void layer_norm(float* out, const float* x, const float* weight, const float* bias,
                                      int C, int G, float eps) {
  __shared__ float scratch[32];
  const idx_t g0 = (idx_t)blockIdx.x * G; // first element of this group
  const int c0 = (int)(g0 % C);             // its first channel
  float s = 0.0f;
  for (int i = threadIdx.x; i < G; i += blockDim.x) s += x[g0 + i];
  // mean = Σx / G
  const float mean = block_sum(s, scratch) / G;
  float q = 0.0f;
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    const float d = x[g0 + i] - mean;
    q += d * d;
  }
  // var = Σ(x − mean)² / G
  const float var = block_sum(q, scratch) / G;
  const float inv = 1.0f / sqrtf(var + eps);
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    out[g0 + i] = (x[g0 + i] - mean) * inv * weight[c0 + i] + bias[c0 + i];
  }
}

// Per group of G values: out = x / max(‖x‖₂, eps) (torch F.normalize). out may alias x.
extern "C" __global__ void l2_normalize_groups(float* out, const float* x, int G, float eps) {
  __shared__ float scratch[32];
  const idx_t g0 = (idx_t)blockIdx.x * G;
  float s = 0.0f;
  for (int i = threadIdx.x; i < G; i += blockDim.x) s += x[g0 + i] * x[g0 + i];
  const float inv = 1.0f / fmaxf(sqrtf(block_sum(s, scratch)), eps);
  for (int i = threadIdx.x; i < G; i += blockDim.x) out[g0 + i] = x[g0 + i] * inv;
}

// ---------------------------------------------------------------------------------------------
// Shifts and element-wise ops: one thread per element.
// ---------------------------------------------------------------------------------------------

// Token shift: out[0] = prev, out[t] = x[t − 1]. out, x [T, C]; prev [C]. out must not alias x
// (the backend stages through a scratch tensor when it does).
extern "C" __global__ void token_shift(float* out, const float* x, const float* prev, int T, int C) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= T * C) return;
  out[i] = i < C ? prev[i] : x[i - C];
}

// Unary op codes, mirrored in cuda-backend.ts (UNARY_CODES).
#define U_SIGMOID 0
#define U_TANH 1
#define U_SILU 2
#define U_RELU2 3
#define U_NEG 4
#define U_EXP_NEG_EXP 5
#define U_RWKV7_DECAY 6

// out = f(x). decayScale is e^−0.5 (src/constants.ts DECAY_SCALE), passed in so it is named once.
extern "C" __global__ void unary(float* out, const float* x, int n, int op, float decayScale) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  float y;
  switch (op) {
    // σ(x) = 1 / (1 + e^−x)
    case U_SIGMOID: y = 1.0f / (1.0f + expf(-v)); break;
    case U_TANH: y = tanhf(v); break;
    // x·σ(x)
    case U_SILU: y = v / (1.0f + expf(-v)); break;
    // max(x, 0)²
    case U_RELU2: y = v > 0.0f ? v * v : 0.0f; break;
    case U_NEG: y = -v; break;
    // exp(−exp(x))
    case U_EXP_NEG_EXP: y = expf(-expf(v)); break;
    // exp(−e^−0.5 · σ(x))
    case U_RWKV7_DECAY: y = expf(-decayScale / (1.0f + expf(-v))); break;
    default: y = __int_as_float(0x7fc00000); // NaN: an unknown op code is a backend bug
  }
  out[i] = y;
}

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2

// out = a ∘ b; b repeats every bn elements (bn = C broadcasts a row, bn = n is elementwise).
extern "C" __global__ void binary(float* out, const float* a, const float* b, int n, int bn, int op) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float av = a[i];
  const float bv = b[i % bn];
  out[i] = op == B_ADD ? av + bv : op == B_SUB ? av - bv : av * bv;
}

// out = a + (b − a)∘t; b, t repeat every bn, tn elements.
extern "C" __global__ void lerp(float* out, const float* a, const float* b, const float* t, int n, int bn, int tn) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float av = a[i];
  out[i] = av + (b[i % bn] - av) * t[i % tn];
}

// out[g] = Σ_{i < G} x[g·G + i]: one warp per group (gridDim = ceil(groups / 4), blockDim = 128).
extern "C" __global__ void group_sum(float* out, const float* x, int groups, int G) {
  const int g = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (g >= groups) return;
  float s = 0.0f;
  for (int i = lane; i < G; i += 32) s += x[(idx_t)g * G + i];
  s = warp_sum(s);
  if (lane == 0) out[g] = s;
}

// out[i] = x[i] · s[i / G]
extern "C" __global__ void group_scale(float* out, const float* x, const float* s, int n, int G) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = x[i] * s[i / G];
}

// out[t, j] = Σ_i x[t, i] · M[t, i·J + j]: one thread per (t, j); threads along j read M coalesced.
extern "C" __global__ void row_vec_mat(float* out, const float* x, const float* M, int T, int I, int J) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int t = blockIdx.y;
  if (j >= J || t >= T) return;
  const float* m = M + (idx_t)t * I * J + j;
  const float* xt = x + (idx_t)t * I;
  float s = 0.0f;
  for (int i = 0; i < I; i++) s += xt[i] * m[(idx_t)i * J];
  out[(idx_t)t * J + j] = s;
}

// ---------------------------------------------------------------------------------------------
// WKV recurrences. One kernel each handles T ≥ 1 tokens (T = 1 is the RNN step); the state lives
// in device memory in fp32 and is advanced in place.
// ---------------------------------------------------------------------------------------------

// RWKV-4, max trick (aa, bb scaled by e^−pp). One thread per channel c, looping over t:
//   p = max(pp, u + k);  wkv = (e^(pp−p)·aa + e^(u+k−p)·v) / (e^(pp−p)·bb + e^(u+k−p))
//   q = max(pp + w, k);  aa = e^(pp+w−q)·aa + e^(k−q)·v;  bb = e^(pp+w−q)·bb + e^(k−q);  pp = q
extern "C" __global__ void wkv4(float* out, float* aa, float* bb, float* pp, const float* w, const float* u,
                                const float* k, const float* v, int T, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float a = aa[c];
  float b = bb[c];
  float p = pp[c];
  const float wc = w[c];
  const float uc = u[c];
  for (int t = 0; t < T; t++) {
    const idx_t i = (idx_t)t * C + c;
    const float kt = k[i];
    const float vt = v[i];
    // output: the current token gets the bonus u
    float ww = uc + kt;
    float q = fmaxf(p, ww);
    float e1 = expf(p - q);
    float e2 = expf(ww - q);
    out[i] = (e1 * a + e2 * vt) / (e1 * b + e2);
    // state: decay the past by w, add the current token
    ww = wc + p;
    q = fmaxf(ww, kt);
    e1 = expf(ww - q);
    e2 = expf(kt - q);
    a = e1 * a + e2 * vt;
    b = e1 * b + e2;
    p = q;
  }
  aa[c] = a;
  bb[c] = b;
  pp[c] = p;
}

// Shared-memory layout of one head's state in the WKV5/WKV7 kernels: N rows padded to N + 1
// floats, so a warp reading a column (WKV7) or a row (WKV5) never hits one bank twice.
// When N·(N + 1) floats do not fit (WKV_SHARED_MAX_BYTES, checked on the host), the kernels work
// on the state in global memory directly (`inShared` = 0, row stride N).

// RWKV-5/6: S[h, i = key, j = value]. One block per head h, thread j owns value channel j (column
// j of S). For each t:
//   out[j] = Σ_i r[i] · (u[i]·k[i]·v[j] + S[i, j]);   S[i, j] = k[i]·v[j] + w[i]·S[i, j]
// w is [C] (v5, wRowStride = 0) or [T, C] (v6, wRowStride = C). Launch: gridDim = H, blockDim = N,
// dynamic shared memory (N·(N + 1) + 4·N floats when inShared, else 4·N floats).
extern "C" __global__ void wkv5(float* out, float* S, const float* r, const float* k, const float* v,
                                const float* w, const float* u, int T, int H, int N, int wRowStride, int inShared) {
  extern __shared__ float smem[];
  const int h = blockIdx.x;
  const int j = threadIdx.x;
  const int C = H * N;
  float* rs = smem;      // [N] r of this step
  float* ks = rs + N;    // [N] k
  float* ws = ks + N;    // [N] w
  float* us = ws + N;    // [N] u (constant)
  float* Sg = S + (idx_t)h * N * N;
  float* Sp = inShared ? us + N : Sg;
  const int stride = inShared ? N + 1 : N;
  if (inShared) for (int i = 0; i < N; i++) Sp[i * stride + j] = Sg[i * N + j];
  us[j] = u[h * N + j];
  for (int t = 0; t < T; t++) {
    const idx_t row = (idx_t)t * C + h * N;
    __syncthreads(); // the previous step is done with rs/ks/ws
    rs[j] = r[row + j];
    ks[j] = k[row + j];
    ws[j] = w[(idx_t)t * wRowStride + h * N + j];
    __syncthreads();
    const float vj = v[row + j];
    float y = 0.0f;
    for (int i = 0; i < N; i++) {
      const float kv = ks[i] * vj;
      const float s = Sp[i * stride + j];
      y += rs[i] * (us[i] * kv + s);
      Sp[i * stride + j] = kv + ws[i] * s;
    }
    out[row + j] = y;
  }
  if (inShared) for (int i = 0; i < N; i++) Sg[i * N + j] = Sp[i * stride + j];
}

// RWKV-7: S[h, i = value, j = key]. One block per head h, thread i owns value channel i (row i of
// S). For each t:
//   sa[i] = Σ_j S[i, j]·a[j];  S[i, j] = S[i, j]·w[j] + sa[i]·b[j] + v[i]·k[j];  out[i] = Σ_j S[i, j]·r[j]
// Launch: gridDim = H, blockDim = N, dynamic shared memory (N·(N + 1) + 5·N floats when inShared,
// else 5·N floats).
extern "C" __global__ void wkv7(float* out, float* S, const float* r, const float* w, const float* k,
                                const float* v, const float* a, const float* b, int T, int H, int N, int inShared) {
  extern __shared__ float smem[];
  const int h = blockIdx.x;
  const int i = threadIdx.x;
  const int C = H * N;
  float* rs = smem;   // [N] r of this step
  float* ws = rs + N; // [N] w
  float* ks = ws + N; // [N] k
  float* as = ks + N; // [N] a
  float* bs = as + N; // [N] b
  float* Sg = S + (idx_t)h * N * N;
  float* Sp = inShared ? bs + N : Sg;
  const int stride = inShared ? N + 1 : N;
  if (inShared) for (int j = 0; j < N; j++) Sp[i * stride + j] = Sg[i * N + j];
  for (int t = 0; t < T; t++) {
    const idx_t row = (idx_t)t * C + h * N;
    __syncthreads(); // the previous step is done with the staged vectors
    rs[i] = r[row + i];
    ws[i] = w[row + i];
    ks[i] = k[row + i];
    as[i] = a[row + i];
    bs[i] = b[row + i];
    __syncthreads();
    float* Si = Sp + i * stride;
    // sa = (S·a)_i
    float sa = 0.0f;
    for (int j = 0; j < N; j++) sa += Si[j] * as[j];
    const float vi = v[row + i];
    float y = 0.0f;
    for (int j = 0; j < N; j++) {
      const float s = Si[j] * ws[j] + sa * bs[j] + vi * ks[j];
      Si[j] = s;
      y += s * rs[j];
    }
    out[row + i] = y;
  }
  if (inShared) for (int j = 0; j < N; j++) Sg[i * N + j] = Sp[i * stride + j];
}

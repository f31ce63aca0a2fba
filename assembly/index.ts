// WASM SIMD kernels (AssemblyScript). One op per file under kernels/; each mirrors a scalar twin
// in src/backends/ts/ and is bound to it by a property test. Kernels take raw byte pointers into
// the imported shared memory; JS owns the memory layout (no allocation, no static data here).

export * from './kernels/matmul/f32';
export * from './kernels/matmul/b16';
export * from './kernels/matmul/i8';
export * from './kernels/norm';
export * from './kernels/elementwise';
export * from './kernels/wkv';

/** Version of the kernel ABI; the JS side refuses a binary whose version it does not know. */
export function abiVersion(): i32 {
  return 1;
}

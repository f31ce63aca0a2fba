// The subset of the WebAssembly JS API this package uses. The "ES2022" lib has none of it (it
// lives in lib.dom) and @types/node 20 only mentions it; every runtime we support provides it.
declare global {
  namespace WebAssembly {
    type ImportValue = Memory | ((...args: never[]) => unknown) | number;
    type Imports = Record<string, Record<string, ImportValue>>;
    type ExportValue = ((...args: number[]) => number) | Memory | { value: number };
    type Exports = Record<string, ExportValue>;
    interface MemoryDescriptor {
      initial: number;
      maximum?: number;
      shared?: boolean;
    }
    interface Memory {
      readonly buffer: ArrayBuffer | SharedArrayBuffer;
      grow(delta: number): number;
    }
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface Module {}
    interface Instance {
      readonly exports: Exports;
    }
    const Memory: { prototype: Memory; new (descriptor: MemoryDescriptor): Memory };
    const Module: { prototype: Module; new (bytes: BufferSource): Module };
    const Instance: { prototype: Instance; new (module: Module, imports?: Imports): Instance };
    function validate(bytes: BufferSource): boolean;
    function compile(bytes: BufferSource): Promise<Module>;
    function instantiate(module: Module, imports?: Imports): Promise<Instance>;
  }
  type BufferSource = ArrayBufferView | ArrayBuffer;
}
export {};

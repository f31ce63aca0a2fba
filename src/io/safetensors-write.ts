// .safetensors writer: keys sorted, `"__metadata__": {"format": "pt"}`, header padded with
// spaces to a multiple of 8, data in header order (the layout torch's safetensors writes).

import { shapeString } from '../errors.ts';
import { type Checkpoint, numel } from '../tensor/tensor.ts';
import { type ByteSink, type CheckpointWriter, DTYPE_BYTES, type WriteOptions, encodeTensor, targetDType } from './write.ts';

export const safetensorsWriter: CheckpointWriter = {
  format: 'safetensors',
  cannot: () => undefined,
  write(ckpt: Checkpoint, sink: ByteSink, options: WriteOptions): void {
    const keys = [...ckpt.keys()].sort();
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const dtypes = new Map<string, 'F32' | 'F16' | 'BF16'>();
    let offset = 0;
    for (const k of keys) {
      const t = ckpt.get(k)!;
      const dtype = targetDType(t, ['F32', 'F16', 'BF16'], options.dtype);
      dtypes.set(k, dtype);
      const n = numel(t.shape) * DTYPE_BYTES[dtype];
      header[k] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + n] };
      offset += n;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
    const hb = new TextEncoder().encode(json);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(hb.length), true);
    sink.write(len);
    sink.write(hb);
    keys.forEach((k, i) => {
      const t = ckpt.get(k)!;
      const bytes = encodeTensor(t, dtypes.get(k)!);
      if (bytes.length !== numel(t.shape) * DTYPE_BYTES[dtypes.get(k)!]) {
        throw new Error(`safetensors writer: ${k} ${shapeString(t.shape)} encoded to ${bytes.length} bytes`);
      }
      sink.write(bytes);
      options.onProgress?.(i + 1, keys.length, sink.position);
    });
  },
};

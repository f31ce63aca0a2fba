// rwkv.cpp .bin reader: placeholder until written (see test/unit/io/rwkvcpp.test.ts).
import { RwkvError } from '../errors.ts';
import type { Checkpoint } from './tensor.ts';

export const RWKV_CPP_MAGIC = 0x67676d66;

export function parseRwkvCppBin(_bytes: Uint8Array, file: string): Checkpoint {
  throw new RwkvError('UNSUPPORTED_FORMAT', 'rwkv.cpp reader not written yet', { file });
}

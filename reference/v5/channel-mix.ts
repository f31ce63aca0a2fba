// RWKV-5 channel mixing (the feed-forward block) is RWKV-4's, unchanged:
//   token shift → r, k → r∘(relu(k)²·Wv)
// model.py runs the same `ffn_one` / `ffn_seq` (L984-1004) for every 5.x; only F differs
// (read from the shapes; 5.2 trains with 3.5·C rounded down to a multiple of 32).
// The equations live once, in ../v4/channel-mix.ts.

export { channelMixSequence, channelMixToken, type ChannelMixState, type ChannelMixWeights } from '../v4/channel-mix.ts';

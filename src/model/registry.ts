// The version registry: every RWKV version family the model runs, one entry each, declared in
// its folder (src/model/<family>/version.ts). A new version is a folder beside those (and its
// plain-loop twin under reference/), its entry in REGISTRY below, and its name in
// reference/common/model.ts RefVersion, the one list of version names.
// detectVersion asks the entries in this order and takes the first that claims the checkpoint:
// newest first, since later versions keep earlier ones' keys (v6 and v7 have v5's att.ln_x).

import type { RwkvVersion } from '../constants.ts';
import { RwkvError } from '../errors.ts';
import { V4 } from './v4/version.ts';
import { V5 } from './v5/version.ts';
import { V6 } from './v6/version.ts';
import { V7 } from './v7/version.ts';
import type { VersionSpec } from './version.ts';

export const REGISTRY: readonly VersionSpec[] = [V7, V6, V5, V4];

/** Every version name the registry knows, oldest first. */
export const VERSIONS: readonly RwkvVersion[] = [...REGISTRY].reverse().flatMap((s) => s.versions);

/** The registry entry of `version`. */
export function versionSpec(version: RwkvVersion): VersionSpec {
  const spec = REGISTRY.find((s) => s.versions.includes(version));
  if (spec === undefined) throw new RwkvError('UNKNOWN_ARCHITECTURE', `no version registry entry for RWKV-${version}`);
  return spec;
}

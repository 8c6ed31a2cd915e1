/**
 * @module Artifact names: relative paths inside a job's artifact folder
 * (`screenshots/boot.png`). Anything that could leave the folder is refused.
 */

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/;

export function checkArtifactName(name: string): { ok: true } | { ok: false; reason: string } {
  if (name.length === 0 || name.length > 255) return { ok: false, reason: 'must be 1 to 255 characters' };
  if (name.includes('\0')) return { ok: false, reason: 'must not contain NUL' };
  if (name.startsWith('/') || name.includes('\\'))
    return { ok: false, reason: 'must be a relative path with "/" separators' };
  const segments = name.split('/');
  if (segments.length > 6) return { ok: false, reason: 'must be at most 6 folders deep' };
  for (const s of segments) {
    if (s === '..' || s === '.') return { ok: false, reason: 'must not contain "." or ".." segments' };
    if (!SEGMENT.test(s))
      return {
        ok: false,
        reason: `segment "${s}" may use only letters, digits, ".", "_", "+", "-" and must not start with "." or "-"`,
      };
  }
  return { ok: true };
}

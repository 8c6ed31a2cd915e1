import { describe, expect, it } from 'vitest';
import { findConflict, parseRequirement, satisfies, type Requirement } from '../../src/domain/requirements.js';

const r = (text: string): Requirement => {
  const p = parseRequirement(text);
  if (!p.ok) throw new Error(p.error);
  return p.value;
};

describe('host requirements', () => {
  it('parses operators, with = as ==', () => {
    expect(r('arch = x86_64')).toEqual({ key: 'arch', op: '==', value: 'x86_64' });
    expect(r('memory_gb>=16')).toEqual({ key: 'memory_gb', op: '>=', value: '16' });
  });

  it('compares numbers as numbers and text as text', () => {
    const caps = { memory_gb: '32', arch: 'x86_64', cpus: '8' };
    expect(satisfies(caps, r('memory_gb >= 16'))).toBe(true);
    expect(satisfies(caps, r('memory_gb > 100'))).toBe(false);
    expect(satisfies(caps, r('cpus == 8.0'))).toBe(true);
    expect(satisfies(caps, r('arch != aarch64'))).toBe(true);
  });

  it('treats a missing capability as unsatisfied, except for !=', () => {
    expect(satisfies({}, r('gpu == yes'))).toBe(false);
    expect(satisfies({}, r('gpu != yes'))).toBe(true);
  });

  it('finds contradictions between two lists', () => {
    expect(findConflict([r('arch == x86_64')], [r('arch == aarch64')])).toMatch(/no host can satisfy/);
    expect(findConflict([r('memory_gb >= 16')], [r('memory_gb < 16')])).toBeDefined();
    expect(findConflict([r('memory_gb >= 16')], [r('memory_gb <= 16')])).toBeUndefined();
    expect(findConflict([r('arch == x86_64')], [r('arch != x86_64')])).toBeDefined();
    expect(findConflict([r('arch == x86_64')], [r('memory_gb >= 8')])).toBeUndefined();
  });
});

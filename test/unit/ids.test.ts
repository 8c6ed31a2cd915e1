import { describe, expect, it } from 'vitest';
import {
  BATCH_ID_PATTERN,
  batchId,
  batchRunWorkflowId,
  chainWorkflowId,
  JOB_ID_PATTERN,
  jobId,
  parseJobId,
  parseWorkflowId,
  recipeSetWorkflowId,
  submissionOfJob,
  submissionWorkflowId,
} from '../../src/domain/ids.js';
import { parentDidNotPass, partnerDidNotPass } from '../../src/domain/outcome.js';

describe('ids', () => {
  it('parse back what the builders build', () => {
    expect(parseJobId('abc123')).toEqual({ kind: 'submission', submissionId: 'abc123' });
    expect(parseJobId(jobId('abc123', 4))).toEqual({ kind: 'job', submissionId: 'abc123', number: 4 });
    expect(parseJobId(batchId(jobId('abc123', 2), 17))).toEqual({
      kind: 'batch',
      submissionId: 'abc123',
      number: 2,
      batch: 17,
      runJobId: 'abc123.2',
    });
    expect(parseJobId('a.1.2.3')).toEqual({ kind: 'other', submissionId: 'a' });
    expect(submissionOfJob('abc123.4.5')).toBe('abc123');
    expect(parseWorkflowId(submissionWorkflowId('abc123'))).toEqual({ kind: 'submission', submissionId: 'abc123' });
    expect(parseWorkflowId(recipeSetWorkflowId('abc123', 3))).toEqual({
      kind: 'recipe-set',
      submissionId: 'abc123',
      setNumber: 3,
    });
    expect(parseWorkflowId(chainWorkflowId('abc123', 3, 'rack-1.lab'))).toEqual({
      kind: 'chain',
      submissionId: 'abc123',
      setNumber: 3,
      hostId: 'rack-1.lab',
    });
    expect(parseWorkflowId(batchRunWorkflowId('abc123', 2))).toEqual({
      kind: 'batch-run',
      submissionId: 'abc123',
      runNumber: 2,
    });
    expect(parseWorkflowId('testbay-scheduler')).toBeUndefined();
  });

  it('match jobs and batches by the patterns', () => {
    expect(JOB_ID_PATTERN.test('abc123.4')).toBe(true);
    expect(JOB_ID_PATTERN.test('abc123.4.5')).toBe(true);
    expect(BATCH_ID_PATTERN.test('abc123.4.5')).toBe(true);
    expect(BATCH_ID_PATTERN.test('abc123.4')).toBe(false);
    expect(BATCH_ID_PATTERN.test('../x.1.2')).toBe(false);
  });
});

describe('skip and partner reasons', () => {
  it('say which parent or partner did not pass, and how', () => {
    expect(parentDidNotPass('A', 'failed')).toBe('parent `A` failed');
    expect(parentDidNotPass('A', 'aborted')).toBe('parent `A` aborted');
    expect(parentDidNotPass('A', 'cancelled')).toBe('parent `A` cancelled');
    expect(parentDidNotPass('B', 'skipped')).toBe('parent `B` was skipped');
    expect(partnerDidNotPass('client', 'failed')).toBe('partner `client` failed');
    expect(partnerDidNotPass('client', 'aborted')).toBe('partner `client` aborted');
    expect(partnerDidNotPass('cli', 'cancelled')).toBe('partner `cli` was cancelled');
    expect(partnerDidNotPass('root', 'skipped')).toBe('partner `root` was skipped');
  });
});

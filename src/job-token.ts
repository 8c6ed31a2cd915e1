/**
 * @module The job token a runner gets (TESTBAY_JOB_TOKEN): what lets it reach its partners
 * through the API (barriers, messages) and nothing else. It is derived one way from the job
 * record's upload token, which only the API and the job's host know: the host hands the
 * runner the derivation, never the upload token, so a runner cannot upload as its host; the
 * API checks it against the record it holds, so it is good only for that job and only while
 * the record is open (a job that ended, or a lease taken back, and the token is refused).
 */
import { createHash } from 'node:crypto';

const LABEL = 'testbay job token v1\0';

export function jobTokenOf(uploadToken: string): string {
  return `tbj_${createHash('sha256').update(LABEL).update(uploadToken).digest('base64url')}`;
}

/**
 * @module Review: comments on jobs and submissions (the author is the token's name; the
 * text is kept as written and answered with its bug references split out as links, so
 * no client ever needs to interpret it as HTML), labels on jobs, and the review list —
 * failed jobs no one has commented on yet, newest first.
 */
import express, { Router } from 'express';
import { commentParts } from '../../domain/review.js';
import { audited, auditTarget } from '../audit.js';
import { parseOr400 } from '../http-errors.js';
import { authorize, principalOf } from '../middleware.js';
import type { Comment } from '../store/review-store.js';
import { jobIdParam, submissionIdParam } from './api-schemas.js';
import type { RouteDeps } from './deps.js';
import { COMMENT_BODY_LIMIT, commentBody, labelBody, labelParam, reviewQuery } from './review-schemas.js';

/** A comment as the API answers it: with its text split into text and bug-reference links. */
export const commentView = (c: Comment, bugRefs: Record<string, string>) => ({
  ...c,
  parts: commentParts(c.text, bugRefs),
});

export function commentRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, tokens } = deps;
  const read = authorize(tokens, 'read');
  const submit = authorize(tokens, 'submit');
  const bugRefs = deps.review?.bugRefs ?? {};

  for (const [kind, param] of [
    ['jobs', jobIdParam],
    ['submissions', submissionIdParam],
  ] as const) {
    const what = kind === 'jobs' ? 'job id' : 'submission id';
    r.get(`/${kind}/:id/comments`, read, async (req, res) => {
      const id = parseOr400(param, req.params.id, what);
      res.json({ comments: (await store.review.listComments(id)).map((c) => commentView(c, bugRefs)) });
    });
    r.post(
      `/${kind}/:id/comments`,
      submit,
      audited(deps, 'comment', kind === 'jobs' ? auditTarget.job : auditTarget.submission, (_req, answer) => ({
        comment: (answer as { id?: number } | undefined)?.id,
      })),
      express.json({ limit: COMMENT_BODY_LIMIT }),
      async (req, res) => {
        const id = parseOr400(param, req.params.id, what);
        const { text } = parseOr400(commentBody, req.body ?? {}, 'body');
        const author = principalOf(res).name;
        const added = await store.review.addComment({ targetId: id, author, text });
        deps.log.info('comment added', { id, by: author });
        res.status(201).json(commentView(added, bugRefs));
      },
    );
  }

  r.get('/jobs/:id/labels', read, async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    res.json({ labels: await store.review.listLabels(id) });
  });

  r.post(
    '/jobs/:id/labels',
    submit,
    audited(deps, 'label', auditTarget.job, (req) => ({ label: (req.body as { label?: unknown } | undefined)?.label })),
    express.json({ limit: '4kb' }),
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const { label } = parseOr400(labelBody, req.body ?? {}, 'body');
      res.json({ labels: await store.review.setLabel(id, label, principalOf(res).name, true) });
    },
  );

  r.delete(
    '/jobs/:id/labels/:label',
    submit,
    audited(deps, 'unlabel', auditTarget.job, (req) => ({ label: req.params.label })),
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const label = parseOr400(labelParam, req.params.label, 'label');
      res.json({ labels: await store.review.setLabel(id, label, principalOf(res).name, false) });
    },
  );

  r.get('/review', read, async (req, res) => {
    const { limit } = parseOr400(reviewQuery, req.query, 'query');
    res.json({ jobs: await store.review.needsReview(limit) });
  });

  return r;
}

/**
 * @module The HTTP app: every route under /api/v1, errors as JSON. Built here and served
 * by server.ts, so tests call the app directly on an ephemeral port.
 */
import express, { type Express } from 'express';
import { dashboardRoutes } from './dashboard/index.js';
import { errorHandler } from './http-errors.js';
import type { RouteDeps } from './routes/deps.js';
import { eventRoutes } from './routes/events.js';
import { hostRoutes } from './routes/hosts.js';
import { internalRoutes } from './routes/internal.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { openApiRoutes } from './routes/openapi.js';
import { sessionRoutes } from './routes/session.js';
import { submissionRoutes } from './routes/submissions.js';
import { uploadRoutes } from './routes/uploads.js';
import { commentRoutes } from './routes/comments.js';
import { rerunRoutes } from './routes/rerun.js';
import { scenarioRoutes } from './routes/scenarios.js';
import { auditRoutes } from './routes/audit.js';
import { partnerRoutes } from './routes/partners.js';
import { reservationRoutes } from './routes/reservations.js';
import { webhookRoutes } from './routes/webhooks.js';
import { junitRoutes } from './routes/junit.js';

export function createApp(deps: RouteDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/api/v1/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    '/api/v1',
    submissionRoutes(deps),
    jobRoutes(deps),
    hostRoutes(deps),
    uploadRoutes(deps),
    internalRoutes(deps),
  );
  app.use('/api/v1', eventRoutes(deps), sessionRoutes(deps), openApiRoutes());
  app.use('/api/v1', scenarioRoutes(deps), commentRoutes(deps), rerunRoutes(deps));
  app.use(
    '/api/v1',
    webhookRoutes(deps),
    auditRoutes(deps),
    junitRoutes(deps),
    partnerRoutes(deps),
    reservationRoutes(deps),
  );
  app.use('/api/v1', (_req, res) => {
    res.status(404).json({ error: 'no such endpoint' });
  });
  app.use(metricsRoutes(deps));
  app.use(dashboardRoutes(deps.log));
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * @module The API's shapes as zod schemas: what every endpoint returns (for the OpenAPI
 * document; an e2e test parses real responses with them), and what it takes — path
 * parameters, queries and bodies, which the routes validate with these very schemas, so
 * the document says what the code checks. They live in the domain (src/domain/wire), by
 * topic, where the store, the client, the CLI and the dashboard take their types from;
 * the job spec itself comes from src/domain/spec.ts.
 */
export * from '../../domain/wire/index.js';

import type { FastifyInstance } from 'fastify';

/**
 * Test support (not shipped): every route the app answers, read from Fastify's own route tree,
 * so a test that walks them covers a route added later without being told about it.
 */
export interface Route {
  method: string;
  /** The path as registered, with `:param` placeholders. */
  url: string;
}

const LINE = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([A-Z, ]+)\))?$/;

/** `GET /api/v1/client-workloads/:id` ... for every method and path (HEAD included). */
export function routesOf(app: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    if (line.trim() === '') continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`unexpected line in the route tree: ${JSON.stringify(line)}`);
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
      routes.push({ method, url: stack.join('') });
    }
  }
  return routes;
}

export const routeName = (route: Route) => `${route.method} ${route.url}`;

/**
 * The API's OpenAPI document as a test oracle: `expectMatchesOpenApi` finds the operation a concrete
 * request path and method belong to, checks that the response status is one the document lists for
 * it, and validates the body against that response's schema (ajv, JSON Schema 2020-12, strict).
 * Handler tests, local-server tests and real-HTTP tests all hold responses to the same document.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

export type JsonSchema = Record<string, unknown>;

export interface OpenApiMedia {
  readonly schema?: JsonSchema;
}

export interface OpenApiResponse {
  readonly description: string;
  readonly content?: Readonly<Record<string, OpenApiMedia>>;
}

export interface OpenApiParameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

export interface OpenApiOperation {
  readonly operationId: string;
  readonly security?: ReadonlyArray<Readonly<Record<string, readonly string[]>>>;
  readonly parameters?: ReadonlyArray<OpenApiParameter | { readonly $ref: string }>;
  readonly requestBody?: {
    readonly required?: boolean;
    readonly content: Readonly<Record<string, OpenApiMedia>>;
  };
  readonly responses: Readonly<Record<string, OpenApiResponse>>;
}

export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Readonly<Record<string, Readonly<Record<string, OpenApiOperation>>>>;
  readonly components: {
    readonly responses?: Readonly<Record<string, OpenApiResponse>>;
    readonly schemas: Readonly<Record<string, JsonSchema>>;
    readonly parameters?: Readonly<Record<string, OpenApiParameter>>;
    readonly securitySchemes?: Readonly<Record<string, Record<string, unknown>>>;
  };
}

export const OPENAPI_PATH = join(__dirname, '..', '..', 'openapi.json');

export const openApiDocument: OpenApiDocument = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

export interface LocatedOperation {
  readonly method: string;
  readonly template: string;
  readonly operation: OpenApiOperation;
}

/** Every operation of the document, with its method (upper case) and path template. */
export function documentOperations(): LocatedOperation[] {
  const found: LocatedOperation[] = [];
  for (const [template, item] of Object.entries(openApiDocument.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation) found.push({ method: method.toUpperCase(), template, operation });
    }
  }
  return found;
}

// ---- schemas -------------------------------------------------------------------------------------

const COMPONENTS_ID = 'urn:shardlease:openapi-components';

/** `#/components/schemas/X` only resolves inside the whole document; ajv sees the components as $defs. */
function rebase<T>(value: T): T {
  if (Array.isArray(value)) return value.map(rebase) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')
        ? `${COMPONENTS_ID}#/$defs/${inner.slice('#/components/schemas/'.length)}`
        : rebase(inner);
  }
  return out as T;
}

/** RFC 3339 date-time, as `format: date-time` means in JSON Schema (ajv has no formats built in). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (value: string) => RFC3339.test(value) && !Number.isNaN(Date.parse(value)),
  });
  ajv.addSchema({ $id: COMPONENTS_ID, $defs: rebase(openApiDocument.components.schemas) });
  return ajv;
}

const ajv = createAjv();
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/** A validator for a schema taken from the document (its `$ref`s point into the components). */
export function validatorFor(schema: JsonSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(rebase(schema));
    compiled.set(schema, validate);
  }
  return validate;
}

export function describeErrors(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors, { separator: '\n  ', dataVar: 'body' });
}

/** A parameter as written, with `#/components/parameters/X` resolved. */
export function resolveParameter(parameter: OpenApiParameter | { readonly $ref: string }): OpenApiParameter {
  if (!('$ref' in parameter)) return parameter;
  const name = parameter.$ref.replace('#/components/parameters/', '');
  const resolved = openApiDocument.components.parameters?.[name];
  if (!resolved) throw new Error(`openapi.json: unresolved parameter ${parameter.$ref}`);
  return resolved;
}

// ---- matching a response -------------------------------------------------------------------------

function templatePattern(template: string): RegExp {
  const source = template
    .split('/')
    .map((segment) => (/^\{\w+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

/** The operation serving `method` on a concrete path (`/shards/abc/lease`), or undefined. */
export function findOperation(method: string, path: string): LocatedOperation | undefined {
  const bare = path.split('?')[0] ?? path;
  return documentOperations().find(
    (candidate) =>
      candidate.method === method.toUpperCase() && templatePattern(candidate.template).test(bare),
  );
}

export interface ObservedResponse {
  readonly method: string;
  /** The concrete request path, e.g. `/shards/abc/lease` (a query string is ignored). */
  readonly path: string;
  readonly status: number;
  /** The response's content-type header, when it has one. */
  readonly contentType?: string;
  /** The parsed JSON body, or its text (parsed here); undefined or '' for none. */
  readonly body?: unknown;
}

/**
 * Fails (throws) unless the document lists `status` for the operation and the body is valid against
 * that response's schema under the response's media type.
 */
export function expectMatchesOpenApi(response: ObservedResponse): void {
  const where = `${response.method} ${response.path} → ${response.status}`;
  const located = findOperation(response.method, response.path);
  if (!located) {
    expectUnmatchedResponse(response, where);
    return;
  }
  const { operation, template } = located;
  const documented = operation.responses[String(response.status)];
  if (!documented) {
    const listed = Object.keys(operation.responses).join(', ');
    throw new Error(
      `${where}: status not documented for ${operation.operationId} (${response.method} ${template}); documented: ${listed}`,
    );
  }
  expectMatchesResponse(documented, response, `${where} (${operation.operationId})`);
}

/**
 * A request no operation takes gets the document's `NotFound` response when no path matches, and its
 * `MethodNotAllowed` response when the path has other methods.
 */
function expectUnmatchedResponse(response: ObservedResponse, where: string): void {
  const bare = response.path.split('?')[0] ?? response.path;
  const pathKnown = documentOperations().some((o) => templatePattern(o.template).test(bare));
  const [name, status] = pathKnown ? ['MethodNotAllowed', 405] : ['NotFound', 404];
  const documented = openApiDocument.components.responses?.[name];
  if (response.status !== status || !documented) {
    throw new Error(
      `${where}: no operation of openapi.json serves this request, so the document allows only ${status} ${name}`,
    );
  }
  expectMatchesResponse(documented, response, `${where} (${name})`);
}

function parseBody(body: unknown, where: string): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`${where}: the body is not JSON: ${body.slice(0, 200)}`);
  }
}

function expectMatchesResponse(documented: OpenApiResponse, response: ObservedResponse, where: string): void {
  const hasBody = response.body !== undefined && response.body !== '';
  const media = Object.entries(documented.content ?? {});
  if (media.length === 0) {
    if (hasBody) throw new Error(`${where}: the document lists no body, but the response has one`);
    return;
  }
  if (!hasBody) throw new Error(`${where}: the document lists a body, but the response has none`);
  const mediaType = response.contentType?.split(';')[0]?.trim().toLowerCase();
  const entry = mediaType === undefined ? media[0] : media.find(([type]) => type.toLowerCase() === mediaType);
  if (!entry) {
    throw new Error(
      `${where}: content-type ${mediaType} is not documented (documented: ${media.map(([t]) => t).join(', ')})`,
    );
  }
  const [, { schema }] = entry;
  if (!schema) return;
  const body = parseBody(response.body, where);
  const validate = validatorFor(schema);
  if (!validate(body)) {
    throw new Error(
      `${where}: the body does not match the documented schema:\n  ${describeErrors(validate)}\nbody: ${JSON.stringify(body)}`,
    );
  }
}

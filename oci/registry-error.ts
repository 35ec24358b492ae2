// Errors from a registry, named with the registry's own error code and message when it sent one.
import { WbpfError } from '../host-bindings/errors.js';
import { readBody, type HttpResponse } from './http.js';

export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

export class RegistryError extends WbpfError {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: RegistryErrorEntry[],
  ) {
    super(message);
  }

  get code(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** Builds a RegistryError from a failed response, reading its (JSON or plain text) body defensively. */
export async function registryError(res: HttpResponse, what: string): Promise<RegistryError> {
  let body = '';
  try {
    body = (await readBody(res, 64 * 1024, what)).toString('utf8');
  } catch {
    // the status alone still says what failed
  }
  let errors: RegistryErrorEntry[] = [];
  try {
    const json = JSON.parse(body) as { errors?: RegistryErrorEntry[] };
    if (Array.isArray(json.errors)) errors = json.errors.filter((e) => e && typeof e.code === 'string');
  } catch {
    // plain-text bodies such as "404 page not found"
  }
  const parts = errors.map((e) => {
    const detail = e.detail === undefined || e.detail === null ? '' : ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})`;
    return `${e.code}: ${e.message ?? ''}${detail}`;
  });
  const text = parts.length ? parts.join('; ') : body.trim().slice(0, 200) || 'no details';
  return new RegistryError(`${what}: HTTP ${res.status}: ${text}`, res.status, errors);
}

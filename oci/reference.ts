// Image references: `host[:port]/name[:tag][@digest]`, docker-style defaults (docker.io,
// library/ prefix, tag latest). Validation follows distribution-spec name and tag grammars.
import { FormatError } from '../host-bindings/errors.js';
import { parseDigest } from './digest.js';

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

export interface Reference {
  /** As written by users and stored in config files, e.g. `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Parses a reference; throws FormatError naming the bad part. A missing tag and digest means `latest`. */
export function parseReference(input: string): Reference {
  const bad = (why: string): never => {
    throw new FormatError(`invalid reference ${JSON.stringify(input)}: ${why}`);
  };
  if (typeof input !== 'string' || input.length === 0) bad('empty');
  if (/\s/.test(input)) bad('contains whitespace');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch (e) {
      bad((e as Error).message);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag "${tag}" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`);
  }
  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      path = rest.slice(slash + 1);
      if (!HOST.test(registry)) bad(`registry host "${registry}" is not a valid host[:port]`);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (path.length === 0) bad('missing repository name');
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (!NAME_COMPONENT.test(component)) {
      bad(`repository component "${component}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`);
    }
  }
  if (registry.length + 1 + path.length > MAX_NAME) bad(`name longer than ${MAX_NAME} characters`);
  if (!tag && !digest) tag = 'latest';
  const ref: Reference = { registry, repository: path };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

/** Parses a repository (`host/name`, no tag or digest), as `push --all-tags` and `pull --all-tags` take. */
export function parseRepository(input: string): Reference {
  const ref = parseReference(input);
  if (ref.digest || input.slice(input.lastIndexOf('/') + 1).includes(':')) {
    throw new FormatError(`invalid repository ${JSON.stringify(input)}: give a repository without a tag or digest (e.g. ${repositoryName(ref)})`);
  }
  const { tag: _latest, ...repository } = ref;
  return repository;
}

/** Host to send API requests to (Docker Hub's API lives on another name). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The repository part only: `host/name`. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** What the registry resolves: the digest when pinned, else the tag. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** True when an argument looks like a reference rather than a file path. */
export function looksLikeReference(arg: string): boolean {
  if (arg.startsWith('.') || arg.startsWith('/') || arg.endsWith('.wasm')) return false;
  try {
    parseReference(arg);
    return true;
  } catch {
    return false;
  }
}

/** Plain HTTP is allowed without asking only for loopback registries, like docker and skopeo. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

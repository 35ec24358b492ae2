// Where the conformance suite lives: ../shared/conformance relative to the repository root.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SUITE_DIR = resolve(REPO_ROOT, '../shared/conformance');

// The error CO-RE relocation throws: a malformed relocation, ambiguous candidates, or an
// instruction that does not hold what the relocation says it should.

import { FormatError } from '../errors.js';

export class CoreError extends FormatError {}

// Every subcommand, in the order `wbpf --help` lists them. Add one import and one entry per command.
import type { CliCommand } from '../command.js';
import { buildCommand } from './build.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { imagesCommand } from './images.js';
import { tagCommand } from './tag.js';
import { rmiCommand } from './rmi.js';
import { inspectCommand } from './inspect.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { saveCommand } from './save.js';
import { loadCommand } from './load.js';
import { pruneCommand } from './prune.js';
import { runCommand } from './run.js';
import { vmExecCommand } from './vm-exec.js';
import { testRunCommand } from './test-run.js';

export const commands: CliCommand[] = [runCommand, buildCommand, pullCommand, pushCommand, imagesCommand, tagCommand, rmiCommand, inspectCommand, loginCommand, logoutCommand, saveCommand, loadCommand, pruneCommand, vmExecCommand, testRunCommand];

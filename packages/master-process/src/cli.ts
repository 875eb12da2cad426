#!/usr/bin/env node
// The `master-process` command (see `master-process --help`).
import { main } from './cli/main.js';

void main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});

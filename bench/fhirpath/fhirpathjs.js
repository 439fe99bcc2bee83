// Runs the benchmark's cases through fhirpath.js with its R4 model, the
// same way the Go program runs them through Gatehouse. run.sh calls it:
//
//   node fhirpathjs.js check CANDIDATES OUT      evaluate each case once
//   node fhirpathjs.js time CASES N ROUNDS WARMUP OUT
//                                                time N evaluations per case
//
// Expressions are compiled once with fhirpath.compile and the default
// options, so results are converted to plain JavaScript values, as a
// caller gets them. The one option set is a traceFn that discards trace()
// output, which fhirpath.js otherwise prints with console.log, because
// Gatehouse discards it when EvalContext.Trace is nil. %resource is passed
// as an environment variable because fhirpath.js does not set it from the
// input.
'use strict';

const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

function readJSON(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Loads each input file once; a case without input gets an empty
// collection, as Gatehouse evaluates it with no input.
function loadInputs(file) {
  const cache = new Map();
  return file.cases.map((c) => {
    if (!c.input) {
      return [];
    }
    if (!cache.has(c.input)) {
      cache.set(c.input, readJSON(path.join(file.corpus, c.input)));
    }
    return cache.get(c.input);
  });
}

const OPTIONS = { traceFn: () => {} };

function envFor(input) {
  return Array.isArray(input) ? {} : { resource: input, rootResource: input };
}

function check(candidatesPath, outPath) {
  const file = readJSON(candidatesPath);
  const inputs = loadInputs(file);
  const results = file.cases.map((c, i) => {
    try {
      const fn = fhirpath.compile(c.expression, r4, OPTIONS);
      fn(inputs[i], envFor(inputs[i]));
      return { name: c.name, error: '' };
    } catch (err) {
      return { name: c.name, error: String((err && err.message) || err) || 'unknown error' };
    }
  });
  fs.writeFileSync(outPath, JSON.stringify({ results }, null, 1) + '\n');
}

// Returns the process CPU time since cpuStart over the wall-clock time
// since wallStart; well below 1 means other processes took the core.
function cpuShareSince(cpuStart, wallStart) {
  const cpu = process.cpuUsage(cpuStart);
  const wallMicros = Number(process.hrtime.bigint() - wallStart) / 1e3;
  return (cpu.user + cpu.system) / wallMicros;
}

// Mirrors the Go side: warm-up passes over all cases, then rounds in
// which every case is evaluated iterations/rounds times in a row.
function time(casesPath, iterations, rounds, warmup, outPath) {
  const file = readJSON(casesPath);
  const inputs = loadInputs(file);
  const compiled = file.cases.map((c, i) => ({
    name: c.name,
    fn: fhirpath.compile(c.expression, r4, OPTIONS),
    input: inputs[i],
    env: envFor(inputs[i]),
  }));

  for (let w = 0; w < warmup; w++) {
    for (const c of compiled) {
      c.fn(c.input, c.env);
    }
  }

  const perRound = iterations / rounds;
  const cases = compiled.map((c) => ({ name: c.name, roundNS: [], result: null }));
  const cpuStart = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    compiled.forEach((c, i) => {
      let last;
      const start = process.hrtime.bigint();
      for (let k = 0; k < perRound; k++) {
        last = c.fn(c.input, c.env);
      }
      cases[i].roundNS.push(Number(process.hrtime.bigint() - start));
      cases[i].result = last;
    });
  }
  const cpuShare = cpuShareSince(cpuStart, wallStart);
  const out = { engine: 'fhirpath.js ' + require('fhirpath/package.json').version, iterations, rounds, warmup, cpuShare, cases };
  fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + '\n');
}

function main(argv) {
  const [mode, ...args] = argv;
  if (mode === 'check' && args.length === 2) {
    check(args[0], args[1]);
    return;
  }
  if (mode === 'time' && args.length === 5) {
    const [iterations, rounds, warmup] = args.slice(1, 4).map(Number);
    if (![iterations, rounds, warmup].every(Number.isInteger) || rounds < 1 || iterations < rounds || iterations % rounds !== 0 || warmup < 0) {
      throw new Error(`invalid N ${args[1]}, ROUNDS ${args[2]} or WARMUP ${args[3]}: need integers, N a multiple of ROUNDS`);
    }
    time(args[0], iterations, rounds, warmup, args[4]);
    return;
  }
  process.stderr.write('usage: node fhirpathjs.js check CANDIDATES OUT | time CASES N ROUNDS WARMUP OUT\n');
  process.exit(2);
}

main(process.argv.slice(2));

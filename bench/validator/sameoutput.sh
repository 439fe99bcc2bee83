#!/usr/bin/env bash
# Checks that two commits give byte-identical `gatehouse validate --format
# json` output over the corpus examples, so that a validator speed-up can be
# shown to change no verdict and no issue.
#
#   bench/validator/sameoutput.sh OLD-COMMIT NEW-COMMIT
#
# It builds cmd/gatehouse at each commit in a temporary git worktree,
# unpacks the corpus archives once (GATEHOUSE_CORPUS, default
# ../shared/corpus), and validates these sets with each binary:
#   - the R4 examples package;
#   - the examples of PAS 2.0.1 and 2.2.1, US Core 3.1.1 and 6.1.0, CRD,
#     PDex and CARIN BB, and the HRex examples;
#   - the PAS 2.2.1 examples again with the PAS request Bundle profile;
#   - the Inferno fixtures (PAS, CRD, PDex, CARIN BB).
# Each set's output is written to OUT/{old,new}/SET.json (OUT is a
# temporary directory, printed at the end) and compared with cmp. The exit
# code is 0 when every set matches, 1 when one differs and 2 when a build
# or a validation run fails.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: sameoutput.sh OLD-COMMIT NEW-COMMIT" >&2
  exit 2
fi
old=$1 new=$2
repo=$(git rev-parse --show-toplevel)
corpus=${GATEHOUSE_CORPUS:-$repo/../shared/corpus}
out=$(mktemp -d /tmp/sameoutput.XXXXXX)

build() { # build COMMIT NAME
  if ! git -C "$repo" worktree add -q --detach "$out/src-$2" "$1"; then
    echo "sameoutput: cannot check out $1" >&2
    exit 2
  fi
  if ! (cd "$out/src-$2" && nice -n 10 go build -o "$out/gatehouse-$2" ./cmd/gatehouse); then
    echo "sameoutput: build of $1 failed" >&2
    git -C "$repo" worktree remove --force "$out/src-$2"
    exit 2
  fi
  git -C "$repo" worktree remove --force "$out/src-$2"
}
build "$old" old
build "$new" new

# Unpack each archive whole. The sets below name the folders to validate.
unpack() { # unpack ARCHIVE NAME
  mkdir -p "$out/corpus/$2"
  tar xzf "$corpus/$1" -C "$out/corpus/$2"
}
unpack fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz r4
unpack davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz pas201
unpack davinci-pas/hl7.fhir.us.davinci-pas-2.2.1.tgz pas221
unpack us-core/hl7.fhir.us.core-3.1.1.tgz uscore311
unpack us-core/hl7.fhir.us.core-6.1.0.tgz uscore610
unpack davinci-crd/hl7.fhir.us.davinci-crd-2.0.1.tgz crd
unpack davinci-pdex/hl7.fhir.us.davinci-pdex-2.0.0.tgz pdex
unpack carin-bb/hl7.fhir.us.carin-bb-2.0.0.tgz carin

c=$out/corpus
declare -A sets=(
  [r4]="$c/r4/package"
  [guides]="$c/pas201/package/example $c/pas221/package/example $c/uscore311/package/example $c/uscore610/package/example $c/crd/package/example $c/pdex/package/example $c/carin/package/example $corpus/davinci-hrex/examples"
  [inferno]="$corpus/inferno-fixtures"
)
pasbundle=http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle

# validate BINARY OUTPUT ARGS... runs one validation. Exit code 1 only
# means that some resource is invalid, which the examples include.
validate() {
  local bin=$1 dst=$2 code=0
  shift 2
  "$bin" validate --format json "$@" >"$dst" 2>"$dst.stderr" || code=$?
  if [ "$code" -gt 1 ]; then
    echo "sameoutput: $bin validate exited with $code, see $dst.stderr" >&2
    exit 2
  fi
}

status=0
for side in old new; do
  mkdir -p "$out/$side"
  for name in "${!sets[@]}"; do
    # shellcheck disable=SC2086
    validate "$out/gatehouse-$side" "$out/$side/$name.json" ${sets[$name]}
  done
  validate "$out/gatehouse-$side" "$out/$side/pas-bundle-profile.json" --profile "$pasbundle" "$c/pas221/package/example"
done

for old_output in "$out"/old/*.json; do
  name=$(basename "$old_output")
  if cmp -s "$old_output" "$out/new/$name"; then
    echo "same: $name ($(wc -l <"$old_output") lines)"
  else
    echo "DIFFERENT: $name (diff $old_output $out/new/$name)"
    status=1
  fi
done
echo "output in $out"
exit $status

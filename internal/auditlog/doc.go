// Package auditlog keeps the exchange record as a tamper-evident, encrypted
// transparency log. It implements record.Store and record.Reader on top of
// SQLite or PostgreSQL (internal/storage). It uses the C2SP formats, so
// standard tools and witnesses can check it. These are signed notes (c2sp.org/signed-note, Ed25519),
// checkpoints (c2sp.org/tlog-checkpoint), RFC 6962 Merkle trees, witness
// add-checkpoint requests (c2sp.org/tlog-witness) and offline proofs
// (c2sp.org/tlog-proof).
//
// This documentation is the specification of the formats. The rationale
// and the threat model are in docs/design/audit-log.md.
//
// # Entries
//
// Every appended record.Entry becomes one leaf of an RFC 6962 Merkle tree.
// Leaf index i holds the entry with sequence number i+1. The leaf data is
// the canonical entry encoding below, and the leaf hash is
// SHA-256(0x00 || encoding), as computed by tlog.RecordHash.
//
// The encoding is a fixed sequence of fields with no optional parts, so
// every entry has exactly one encoding. Integers are big-endian. A string
// is a uint32 byte length followed by the bytes (at most 65536 bytes). Time
// stamps are int64 nanoseconds since the Unix epoch, with 0 meaning unset.
//
//	"gatehouse.audit.entry/v4\n"     25 bytes, the format and version
//	uint64  index                     leaf index, 0 for the first entry
//	int64   recorded                  time the log assigned the index
//	string  exchange_id
//	string  phase                     request, response or refusal
//	string  direction                 inbound or outbound
//	string  partner
//	string  cert_fingerprint
//	string  token_id
//	string  source
//	string  method
//	string  target                    request-target; from version 3 the path only
//	string  interaction
//	string  decision                  allow or deny
//	string  rule
//	string  reason
//	string  request_type
//	uint32  status                    HTTP status released to the client
//	uint32  upstream_status           0 when not forwarded
//	int64   received
//	int64   upstream_time             nanoseconds
//	int64   total_time                nanoseconds
//	body    request
//	body    response
//	[32]    wrapped_key_sha256        SHA-256 of the wrapped data key (below)
//	uint64  request_entry             versions 2 to 4: see below
//	string  query_ct                  versions 3 and 4: see below
//	[32]    kek_sha256                version 4 only: see Body encryption
//
// A body is a uint64 plaintext length. When the length is not zero, two
// 32-byte hashes follow: SHA-256 of the plaintext and SHA-256 of the
// stored ciphertext. An empty body has no ciphertext, so an absent body and
// an empty one are recorded alike.
//
// The request entry of an exchange holds its request body. Later entries
// of the exchange (its response entry, or a refusal after forwarding)
// commit to the same request by its length and plaintext hash, with a
// ciphertext hash of 32 zero bytes. They store no ciphertext of it, and
// give the request entry's leaf index in request_entry. That entry must be an
// earlier request entry of the same exchange whose request body has the
// same length and hash. Only the request body of a response or refusal
// entry may be kept so; otherwise request_entry is 0. Version 1 entries,
// written before this, have no request_entry field and store every body
// they commit to, and DecodeEntry reads them too.
//
// The query string of the request-target carries PHI in FHIR searches.
// From version 3 on, target holds the request-target up to and without its
// first "?", and no "?" at all. The query string after it is sealed in
// query_ct like a body (see Body encryption, part "query"), or query_ct is
// empty when there is no query or it is empty. The leaf commits to the
// ciphertext itself, not to a hash of the plaintext, because a query is
// short and guessable. Versions 1 and 2, read by DecodeEntry as written,
// keep the whole request-target in clear text in target and have no
// query_ct, so the leaves of entries written before keep their hashes.
//
// DecodeEntry rejects anything that EncodeEntry would not produce: a wrong
// prefix, a truncated field, an over-long string, trailing bytes, a body
// kept elsewhere where the format forbids it.
//
// # Body encryption
//
// Each entry gets a fresh random 256-bit data key. Each non-empty body is
// stored as nonce || AES-256-GCM(data key, nonce, body, ad), with a random
// 12-byte nonce and the associated data
//
//	"gatehouse.audit.body/v1\n" || string(origin) || uint64(index)
//	    || string(exchange_id) || string(part)
//
// where part is "request", "response" or "query". Binding the index means the
// encryption runs after the log assigns it, in the writer.
//
// The data key is wrapped under a key-encryption key (KEK). A KEK is a
// random 256-bit AES key, stored in the audit_keks table as an age file
// (age-encryption.org/v1) to every configured recipient, normally X25519
// keys held by the security team, whose plaintext is the 32 bytes of the
// KEK. A writer wraps data keys under one KEK for Options.KEKInterval or
// Options.KEKMaxEntries entries, whichever ends first, so the age
// encryption (one X25519 exchange per recipient) runs once per window
// instead of once per entry. kek_id is the KEK's row id. The wrapped data
// key, 68 bytes, is
//
//	uint64  kek_id
//	[12]    nonce                     random
//	[48]    AES-256-GCM(KEK, nonce, data key, ad)
//
// with the associated data
//
//	"gatehouse.audit.key/v1\n" || string(origin) || uint64(index) || uint64(kek_id)
//
// so a wrapped key moved to another entry, or paired with another KEK,
// fails to authenticate. Entries written before key-encryption keys hold
// an age file to the recipients instead, whose plaintext is the data key.
// Readers accept both forms and tell them apart by the age file's first
// line, "age-encryption.org/v1", which no kek_id starts with.
//
// From version 4 on, kek_sha256 is the SHA-256 of the age file of the KEK
// that wraps the entry's data key, as stored in audit_keks. Verification
// compares it with the stored file of every unshredded entry, so a KEK
// whose file was replaced, with a new key to the same recipients, is found
// without the recipients' identities. Versions 1 to 3 have no such field,
// and a replaced KEK of their entries only shows when decryption fails.
//
// The leaf commits to the hash of the wrapped key, of each ciphertext and
// of the KEK's age file, never to a key. Crypto-shredding deletes an
// entry's wrapped key and its ciphertexts, which no one can decrypt any
// more, and leaves every proof valid. Once every entry under a KEK is
// shredded, the KEK is deleted too. A reader with an age identity decrypts a body by
// opening the KEK's age file, then the wrapped key, then the body.
//
// # Checkpoints
//
// A checkpoint is a signed note (c2sp.org/signed-note) whose text is
//
//	<origin>\n
//	<tree size, decimal>\n
//	<root hash, base64>\n
//
// with no extension lines, signed with the log's Ed25519 key, whose key
// name is the origin. Witness cosignatures (c2sp.org/tlog-cosignature,
// Ed25519 type 0x04) may be appended as further signature lines, and verifiers
// ignore signatures from keys they do not know. The log signs a checkpoint
// every Options.CheckpointEvery entries or Options.CheckpointInterval,
// whichever comes first, in the same database transaction as the entries
// it covers.
//
// # Receipts and proofs
//
// A receipt is an inclusion proof in the c2sp.org/tlog-proof@v1 text form:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 of the 32-byte leaf hash>
//	index <leaf index>
//	<base64 hash>            zero or more RFC 6962 inclusion proof hashes
//	...
//	                         an empty line
//	<checkpoint, signatures included>
//
// The extra line carries the leaf hash so that a holder of the receipt can
// check it without the entry. It is not authenticated by itself: a checker
// compares it with the leaf hash it expects (for example from the response
// headers of the exchange) before trusting the proof.
//
// An entry proof, which `gatehouse audit prove` writes, also carries the
// entry, so that a holder of an exchange's bodies can check them against
// the log:
//
//	gatehouse.audit.proof/v2
//	entry <base64 of the canonical entry encoding>
//	                         an empty line
//	<receipt, as above>
//
// A checker recomputes the leaf hash from the encoding and rejects the
// proof unless it equals the extra line and the encoding's index equals
// the index line. It then verifies the receipt, and compares each body's
// length and SHA-256 with those the entry commits to (the plaintext, not
// the ciphertext). A proof that starts with the receipt has no entry, so
// it cannot tie a body to the log.
package auditlog

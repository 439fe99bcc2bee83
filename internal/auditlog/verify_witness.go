package auditlog

import (
	"errors"

	"golang.org/x/mod/sumdb/note"
)

// checkCosignatures counts c's cosignatures by the witnesses of
// VerifyOptions.Witnesses. The gateway stores a cosignature only after
// checking it, so a line under a witness's key that does not verify was
// written by someone else.
func (v *verifier) checkCosignatures(c *SignedCheckpoint, size int64) error {
	for i, w := range v.opts.Witnesses {
		n, err := note.Open(c.Note, note.VerifierList(w))
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unverified):
			continue
		case err != nil:
			if err := v.problem(-1, 0, "checkpoint #%d: invalid cosignature by witness %s: %v", c.ID, w.Name(), err); err != nil {
				return err
			}
			continue
		case !signedBy(n, w):
			continue
		}
		got := &v.rep.Witnessed[i]
		got.Checkpoints++
		got.Size = max(got.Size, size)
	}
	return nil
}

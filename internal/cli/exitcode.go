package cli

import "errors"

// The exit codes every command returns. Commands whose job is a check
// (posture, validate, audit verify, audit check-proof) keep 1 for the
// check's finding, so that a script can tell a finding from a run that
// could not check at all.
const (
	// exitFailed means the command ran and failed, found a problem or was
	// rejected, such as by a gateway or payer that rejected the request or
	// could not be reached, or because an output file already exists.
	exitFailed = 1
	// exitUsage means nothing was done, because of a usage error or an input
	// that cannot be used. Such an input is a file or directory, named by
	// an option, an argument or a default such as ./gatehouse-data, that
	// is missing, unreadable or not of the kind the option takes.
	exitUsage = 2
)

// inputError marks an error about an input that the command line named,
// directly or by a default, and that cannot be used. exitCode maps it to
// exitUsage.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// unusableInput marks err, which may be nil, as an inputError.
func unusableInput(err error) error {
	if err == nil {
		return nil
	}
	return &inputError{err: err}
}

// exitCode returns the exit code for a command that stopped with err:
// exitUsage when err is or wraps an inputError, exitFailed otherwise.
func exitCode(err error) int {
	var input *inputError
	if errors.As(err, &input) {
		return exitUsage
	}
	return exitFailed
}

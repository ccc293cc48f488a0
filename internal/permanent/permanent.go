// Package permanent marks the errors that retrying cannot mend (a
// repository the server is not configured for, a sluice.yaml that is not
// valid, a merge request that is gone), so that the flow stops at once
// and says so, and the job queue does not try the job again. It imports
// nothing of Sluice's: the flow and the queue, which must not know each
// other, both use it.
package permanent

import "errors"

// wrapped is an error marked permanent. Its text is the error's own.
type wrapped struct{ error }

func (w wrapped) Unwrap() error { return w.error }

// Wrap marks err as one that retrying cannot mend; nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return wrapped{err}
}

// Is reports whether err, or an error it wraps, was marked by Wrap.
func Is(err error) bool {
	var w wrapped
	return errors.As(err, &w)
}

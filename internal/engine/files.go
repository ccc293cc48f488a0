package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Files Sluice itself opens where an engine may write (a project's working
// data, the plugin cache, the output of a plan) or may have written: the
// engine runs the merge request's code, which may leave a symbolic link
// there to one of Sluice's own files (its plan key, its database), a FIFO
// that blocks, or /dev/zero. Sluice is not confined, so it opens such files
// only without following a link, only when they are regular files, and
// reads only so much of them.

// MaxArtifact bounds a saved plan Sluice reads.
const MaxArtifact = 256 << 20

// ReadRegular reads the regular file at path, of at most max bytes,
// without following a symbolic link at its last element.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// WriteNew writes data to path as a new file of Sluice's own (0600):
// whatever is at path (a link an engine left, say) is removed first, never
// followed.
func WriteNew(path string, data []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// OpenLock opens, creating it when missing, a lock file at path, without
// following a symbolic link; anything but a regular file there is an error.
func OpenLock(path string) (*os.File, error) {
	return openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// openRegular opens path without following a link at its last element, and
// without blocking on a FIFO, and fails unless it is a regular file.
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; Sluice does not follow links where engines write", path)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	return f, nil
}

// HashBytes is the Artifact of a saved plan's content, read from path.
func HashBytes(path string, data []byte) Artifact {
	return Artifact{Path: path, SHA256: sha256Hex(data), Size: int64(len(data))}
}
